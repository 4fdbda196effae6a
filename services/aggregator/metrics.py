"""Prometheus metrics of the aggregator, in a registry of its own."""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_FOLDED = Counter("fusebox_aggregator_events_folded_total", "Events folded into breaker state",
                        ["topic"], registry=REGISTRY)
DEAD_LETTERS = Counter("fusebox_aggregator_dead_letters_total", "Records sent to the dead-letter topic",
                       ["topic", "code"], registry=REGISTRY)
DEAD_LETTERS_CUT = Counter("fusebox_aggregator_dead_letters_truncated_total",
                           "Dead letters whose value was cut to fit the dead-letter topic (form: cut, header-only)",
                           ["form"], registry=REGISTRY)
TRANSITIONS = Counter("fusebox_aggregator_circuit_transitions_total", "Circuit state changes",
                      ["to_state"], registry=REGISTRY)
BATCH_SIZE = Histogram("fusebox_aggregator_batch_size", "Records per folded batch", registry=REGISTRY,
                       buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000, 20000, 50000))
BATCH_SECONDS = Histogram("fusebox_aggregator_batch_seconds", "Time to fold and publish one batch",
                          registry=REGISTRY)
STATES_PUBLISHED = Counter("fusebox_aggregator_states_published_total", "ServiceState records published",
                           registry=REGISTRY)
TICKS_SENT = Counter("fusebox_aggregator_ticks_total", "tick commands produced for due deadlines",
                     registry=REGISTRY)
HISTORY_ROWS = Counter("fusebox_aggregator_history_rows_total", "History rows upserted into PostgreSQL",
                       registry=REGISTRY)
TRANSITION_ROWS = Counter("fusebox_aggregator_transition_rows_total",
                          "Breaker transitions upserted into PostgreSQL", registry=REGISTRY)
SINK_ERRORS = Counter("fusebox_aggregator_sink_errors_total", "Failed PostgreSQL sink attempts (retried)",
                      ["sink"], registry=REGISTRY)
CONSUMER_LAG = Gauge("fusebox_aggregator_consumer_lag", "Records behind the end of the input topics",
                     ["topic", "partition"], registry=REGISTRY)
SERVICES = Gauge("fusebox_aggregator_services", "Services whose state this worker holds", registry=REGISTRY)
ROLLUP_ROWS = Counter("fusebox_aggregator_rollup_rows_total", "Closed minute rollups (and corrections) stored in PostgreSQL",
                      registry=REGISTRY)

# Live per-service series: the fold's lifetime `operations` counters and the circuit state of every
# service this worker holds, read at scrape time, so they are exact across restarts and rebalances
# (a service that moves to another worker is exported there). 3 call series and 3 state series per
# service, so the label set is capped: the first MAX_SERVICE_LABELS services (by name) get their own
# series, the rest are summed under service="_other". `fusebox_breakers{state}` counts every held
# service, capped or not. No per-service latency histograms (series x buckets): latency percentiles
# come from the rollups, through the API.
MAX_SERVICE_LABELS = int(os.environ.get("FUSEBOX_METRICS_MAX_SERVICES", "1000") or 1000)
OTHER_SERVICES = "_other"
OUTCOMES = ("success", "failure", "rejected")
CIRCUIT_STATES = ("closed", "open", "half-open")


class ServiceCounters:
    """Collector of `fusebox_service_calls_total{service, outcome}`, `fusebox_service_circuit_state{service,
    state}` and `fusebox_breakers{state}` from the latest folded states."""

    def __init__(self, max_labels: int = MAX_SERVICE_LABELS) -> None:
        self.max_labels = max_labels
        self.totals: dict[str, tuple[int, int, int]] = {}  # service -> (successful, failed, rejected)
        self.circuits: dict[str, str] = {}  # service -> circuit state

    def update(self, service: str, successful: int, failed: int, rejected: int, circuit: str) -> None:
        self.totals[service] = (successful, failed, rejected)
        self.circuits[service] = circuit

    def keep_only(self, services) -> None:
        self.totals = {s: t for s, t in self.totals.items() if s in services}
        self.circuits = {s: c for s, c in self.circuits.items() if s in services}

    def collect(self):
        calls = CounterMetricFamily("fusebox_service_calls",
                                    "Outcomes folded per service (failure includes timeouts; rejected are not calls)",
                                    labels=["service", "outcome"])
        circuit = GaugeMetricFamily("fusebox_service_circuit_state",
                                    "1 for the circuit state a service's breaker is in (services beyond the label "
                                    "cap: how many are in it, under service=\"_other\")",
                                    labels=["service", "state"])
        breakers = GaugeMetricFamily("fusebox_breakers", "Breakers this worker holds, by circuit state",
                                     labels=["state"])
        names = sorted(self.totals)
        other_calls = [0, 0, 0]
        other_states = dict.fromkeys(CIRCUIT_STATES, 0)
        held = dict.fromkeys(CIRCUIT_STATES, 0)
        for index, service in enumerate(names):
            counts = self.totals[service]
            state = self.circuits[service]
            held[state] += 1
            if index < self.max_labels:
                for outcome, count in zip(OUTCOMES, counts):
                    calls.add_metric([service, outcome], count)
                for name in CIRCUIT_STATES:
                    circuit.add_metric([service, name], 1 if name == state else 0)
            else:
                other_calls = [a + b for a, b in zip(other_calls, counts)]
                other_states[state] += 1
        if len(names) > self.max_labels:
            for outcome, count in zip(OUTCOMES, other_calls):
                calls.add_metric([OTHER_SERVICES, outcome], count)
            for name in CIRCUIT_STATES:
                circuit.add_metric([OTHER_SERVICES, name], other_states[name])
        for name in CIRCUIT_STATES:
            breakers.add_metric([name], held[name])
        yield calls
        yield circuit
        yield breakers


SERVICE_COUNTERS = ServiceCounters()
REGISTRY.register(SERVICE_COUNTERS)

"""Prometheus metrics of the aggregator, in a registry of its own."""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily

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
SINK_ERRORS = Counter("fusebox_aggregator_sink_errors_total", "Failed PostgreSQL sink attempts (retried)",
                      ["sink"], registry=REGISTRY)
CONSUMER_LAG = Gauge("fusebox_aggregator_consumer_lag", "Records behind the end of the input topics",
                     ["topic", "partition"], registry=REGISTRY)
SERVICES = Gauge("fusebox_aggregator_services", "Services whose state this worker holds", registry=REGISTRY)
ROLLUP_ROWS = Counter("fusebox_aggregator_rollup_rows_total", "Closed minute rollups (and corrections) stored in PostgreSQL",
                      registry=REGISTRY)

# Live per-service counters: the fold's lifetime `operations` counters of every service this worker
# holds, read at scrape time, so they are exact across restarts and rebalances (a service that moves
# to another worker is exported there). One series per (service, outcome), 3 per service, so the
# label set is capped: the first MAX_SERVICE_LABELS services (by name) get their own series, the rest
# are summed under service="_other". No per-service latency histograms (series x buckets): latency
# percentiles come from the rollups, through the API.
MAX_SERVICE_LABELS = int(os.environ.get("FUSEBOX_METRICS_MAX_SERVICES", "1000") or 1000)
OTHER_SERVICES = "_other"


class ServiceCounters:
    """Collector of `fusebox_service_calls_total{service, outcome}` from the latest folded states."""

    def __init__(self, max_labels: int = MAX_SERVICE_LABELS) -> None:
        self.max_labels = max_labels
        self.totals: dict[str, tuple[int, int, int]] = {}  # service -> (successful, failed, rejected)

    def update(self, service: str, successful: int, failed: int, rejected: int) -> None:
        self.totals[service] = (successful, failed, rejected)

    def keep_only(self, services) -> None:
        self.totals = {s: t for s, t in self.totals.items() if s in services}

    def collect(self):
        family = CounterMetricFamily("fusebox_service_calls",
                                     "Outcomes folded per service (failure includes timeouts; rejected are not calls)",
                                     labels=["service", "outcome"])
        names = sorted(self.totals)
        other = [0, 0, 0]
        for index, service in enumerate(names):
            counts = self.totals[service]
            if index < self.max_labels:
                for outcome, count in zip(("success", "failure", "rejected"), counts):
                    family.add_metric([service, outcome], count)
            else:
                other = [a + b for a, b in zip(other, counts)]
        if len(names) > self.max_labels:
            for outcome, count in zip(("success", "failure", "rejected"), other):
                family.add_metric([OTHER_SERVICES, outcome], count)
        yield family


SERVICE_COUNTERS = ServiceCounters()
REGISTRY.register(SERVICE_COUNTERS)

"""Prometheus metrics of the aggregator, in a registry of its own."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_FOLDED = Counter("fusebox_aggregator_events_folded_total", "Events folded into breaker state",
                        ["topic"], registry=REGISTRY)
DEAD_LETTERS = Counter("fusebox_aggregator_dead_letters_total", "Records sent to the dead-letter topic",
                       ["topic", "code"], registry=REGISTRY)
TRANSITIONS = Counter("fusebox_aggregator_circuit_transitions_total", "Circuit state changes",
                      ["to_state"], registry=REGISTRY)
BATCH_SIZE = Histogram("fusebox_aggregator_batch_size", "Records per folded batch", registry=REGISTRY,
                       buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000))
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

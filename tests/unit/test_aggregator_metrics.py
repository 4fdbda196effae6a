"""The aggregator's per-service Prometheus series: calls, circuit states and breakers by state."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fusebox.aggregator.metrics import ServiceCounters


def scrape(counters: ServiceCounters) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    registry.register(counters)
    samples = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_each_service_exports_its_calls_and_one_circuit_state():
    counters = ServiceCounters()
    counters.update("a", 5, 2, 1, "open")
    counters.update("b", 7, 0, 0, "closed")
    samples = scrape(counters)
    assert samples[("fusebox_service_calls_total", (("outcome", "success"), ("service", "a")))] == 5
    assert samples[("fusebox_service_calls_total", (("outcome", "rejected"), ("service", "a")))] == 1
    states = {labels: value for (name, labels), value in samples.items() if name == "fusebox_service_circuit_state"}
    assert states == {
        (("service", "a"), ("state", "closed")): 0, (("service", "a"), ("state", "open")): 1,
        (("service", "a"), ("state", "half-open")): 0,
        (("service", "b"), ("state", "closed")): 1, (("service", "b"), ("state", "open")): 0,
        (("service", "b"), ("state", "half-open")): 0,
    }
    breakers = {dict(labels)["state"]: value for (name, labels), value in samples.items() if name == "fusebox_breakers"}
    assert breakers == {"closed": 1, "open": 1, "half-open": 0}


def test_a_newer_state_replaces_the_older_and_services_handed_away_disappear():
    counters = ServiceCounters()
    counters.update("a", 1, 3, 0, "open")
    counters.update("a", 2, 3, 0, "half-open")
    counters.update("b", 1, 0, 0, "closed")
    counters.keep_only({"a"})
    samples = scrape(counters)
    assert samples[("fusebox_service_circuit_state", (("service", "a"), ("state", "half-open")))] == 1
    assert samples[("fusebox_service_circuit_state", (("service", "a"), ("state", "open")))] == 0
    assert not any(dict(labels).get("service") == "b" for _, labels in samples)
    assert samples[("fusebox_breakers", (("state", "closed"),))] == 0


def test_services_beyond_the_label_cap_are_counted_under_other_and_still_in_breakers():
    counters = ServiceCounters(max_labels=2)
    for name, circuit in (("a", "closed"), ("b", "open"), ("c", "open"), ("d", "half-open")):
        counters.update(name, 1, 1, 0, circuit)
    samples = scrape(counters)
    other = {dict(labels)["state"]: value for (name, labels), value in samples.items()
             if name == "fusebox_service_circuit_state" and dict(labels)["service"] == "_other"}
    assert other == {"closed": 0, "open": 1, "half-open": 1}
    assert samples[("fusebox_service_calls_total", (("outcome", "success"), ("service", "_other")))] == 2
    breakers = {dict(labels)["state"]: value for (name, labels), value in samples.items() if name == "fusebox_breakers"}
    assert breakers == {"closed": 1, "open": 2, "half-open": 1}

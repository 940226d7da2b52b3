from prometheus_client import CollectorRegistry

from brownout.engine.state import Brownout
from brownout.hooks.streams import Streams
from brownout.metrics.client import ClientMetrics
from brownout.metrics.proxy import Metrics
from brownout.metrics.registry import ModelLabels
from brownout.metrics.registry import families


def test_model_labels_are_bounded() -> None:
    labels = ModelLabels(limit=2)
    assert [labels(m) for m in ("a", "b", "c", "a", "")] == ["a", "b", "other", "a", "none"]
    fixed = ModelLabels(allow=["gpt-4o"])
    assert (fixed("gpt-4o"), fixed("gpt-5")) == ("gpt-4o", "other")


def test_feature_families_register_once_per_registry() -> None:
    registry = CollectorRegistry()
    assert families(registry, ClientMetrics) is families(registry, ClientMetrics)
    assert ClientMetrics.on(registry) is families(registry, ClientMetrics)
    assert families(CollectorRegistry(), ClientMetrics) is not families(registry, ClientMetrics)


def test_building_the_stream_addon_twice_on_one_state() -> None:
    state = Brownout()
    assert Streams(state).metrics is Streams(state).metrics  # no DuplicateTimeseries


def test_build_info_and_scenario_gauges() -> None:
    metrics = Metrics()
    metrics.set_scenarios(["a", "b"], ["b"])
    value = metrics.registry.get_sample_value
    assert value("brownout_build_info", {"version": "0.1.0"}) == 1
    assert (
        value("brownout_scenario_active", {"scenario": "a"}),
        value("brownout_scenario_active", {"scenario": "b"}),
    ) == (0, 1)
    assert value("brownout_scenarios_loaded") == 2

"""SearchConfig: defaults run, normalisation, and one clear error per bad field."""
import pytest

from sn_core.config import SearchConfig


def test_defaults_validate_and_target_the_demo_model():
    cfg = SearchConfig().validate()
    assert cfg.model == "demo" and cfg.task == "shapes-color" and cfg.sites == ("mlp",) and cfg.k == 1
    assert cfg.probe_per_class == 20 and cfg.layers is None and cfg.baselines


def test_normalisation():
    cfg = SearchConfig(sites=["hook_resid_post", "mlp", "resid"], layers=[3, 1, 3]).validate()
    assert cfg.sites == ("resid", "mlp") and cfg.layers == (1, 3)
    assert SearchConfig(sites="attn").sites == ("attn",)
    assert SearchConfig(layers=2).validate().layers == (2,)


def test_round_trip_through_dict():
    cfg = SearchConfig(task="digits-parity", sites=("mlp", "attn"), layers=(0, 2), l_max=2, k=3).validate()
    assert SearchConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown SearchConfig field"):
        SearchConfig.from_dict({"modle": "demo"})


@pytest.mark.parametrize("kwargs,match", [
    (dict(probe_per_class=0), "probe_per_class must be a positive integer, got 0"),
    (dict(k=0), "k must be a positive integer, got 0"),
    (dict(k=2.5), "k must be a positive integer, got 2.5"),
    (dict(n_examples=True), "n_examples must be a positive integer, got True"),
    (dict(test_per_class=-1), "test_per_class must be a positive integer"),
    (dict(seed=-3), "seed must be a non-negative integer, got -3"),
    (dict(sites=("ffn",)), "unknown site 'ffn'"),
    (dict(sites=()), "sites is empty"),
    (dict(layers=(-1,)), "layers must be non-negative integers"),
    (dict(layers=(4, 5), l_max=3), r"has no layer <= l_max=3"),
    (dict(l_max=-1), "l_max must be a non-negative integer"),
    (dict(rule="tree"), "rule must be one of .*got 'tree'"),
    (dict(metric="f1"), "metric must be one of .*got 'f1'"),
    (dict(k=60, n_top=50), "k=60 is larger than n_top=50"),
    (dict(dtype="int8"), "dtype must be fp32, fp16, bf16 or None, got 'int8'"),
    (dict(model=""), "model must be a non-empty string"),
])
def test_bad_values_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SearchConfig(**kwargs).validate()

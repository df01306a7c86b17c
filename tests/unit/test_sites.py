"""Site names and neuron ids: one spelling, round trips, clear errors."""
import numpy as np
import pytest

from sn_core.sites import SITE_KINDS, neuron_id, parse_neuron_id, parse_site_name, site_kind, site_name


@pytest.mark.parametrize("kind,name", [("mlp", "blocks.3.mlp.hook_post"), ("resid", "blocks.3.hook_resid_post"),
                                       ("attn", "blocks.3.attn.hook_z")])
def test_site_names_follow_transformerlens(kind, name):
    assert site_name(kind, 3) == name
    assert parse_site_name(name) == (kind, 3)
    assert neuron_id(kind, 3, 17) == name + "[17]"
    assert parse_neuron_id(name + "[17]") == (kind, 3, 17)


def test_round_trip_over_many_ids():
    for kind in SITE_KINDS:
        for layer in (0, 9, 47):
            for index in (0, 1, 12287):
                assert parse_neuron_id(neuron_id(kind, layer, index)) == (kind, layer, index)


def test_numpy_integers_are_accepted():
    assert neuron_id("mlp", np.int64(2), np.int32(5)) == "blocks.2.mlp.hook_post[5]"


@pytest.mark.parametrize("alias,kind", [("mlp.hook_post", "mlp"), ("hook_post", "mlp"), ("MLP", "mlp"),
                                        ("hook_resid_post", "resid"), ("resid_post", "resid"),
                                        ("attn.hook_z", "attn"), ("hook_z", "attn")])
def test_aliases(alias, kind):
    assert site_kind(alias) == kind


@pytest.mark.parametrize("text", ["blocks.3.mlp.hook_post", "blocks.3.mlp.hook_pre[1]", "blocks.-1.mlp.hook_post[1]",
                                  "blocks.3.mlp.hook_post[x]", "3.mlp[1]", "", "blocks.3.mlp.hook_post[1] extra"])
def test_bad_neuron_ids_name_the_text(text):
    with pytest.raises(ValueError, match="not a neuron id"):
        parse_neuron_id(text)


def test_bad_site_names_and_values():
    with pytest.raises(ValueError, match="not a site name: 'blocks.x.mlp'"):
        parse_site_name("blocks.x.mlp")
    with pytest.raises(ValueError, match="unknown site 'ffn'"):
        site_kind("ffn")
    with pytest.raises(ValueError, match="layer must be >= 0, got -1"):
        site_name("mlp", -1)
    with pytest.raises(ValueError, match="neuron index must be an integer, got 1.5"):
        neuron_id("mlp", 0, 1.5)
    with pytest.raises(ValueError, match="layer must be an integer, got True"):
        site_name("mlp", True)

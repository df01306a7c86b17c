"""Shifted-image variants (sn_core/data/shifted.py): same examples, questions and labels as the trained task,
other images, deterministic; ``shifted_variant`` names them."""
import numpy as np
import pytest

from sn_core.data import bundled_spec, bundled_task_names, get_task, make_split, shifted_variant

SHIFTED = bundled_task_names("shifted")


def test_shifted_variant_names_the_variant_of_a_trained_task():
    assert len(SHIFTED) >= 2
    assert shifted_variant("shapes-color") == "shapes-color-shifted"
    assert shifted_variant("digits-class") == "digits-class-shifted"
    assert shifted_variant("shapes-exists") is None and shifted_variant("nope") is None
    for name in SHIFTED:
        spec = bundled_spec(name)
        assert spec.kind == "shifted" and shifted_variant(spec.derived_from) == name
        orig = bundled_spec(spec.derived_from)
        assert (spec.labels, spec.question, orig.kind) == (orig.labels, orig.question, "trained")


@pytest.mark.parametrize("name", SHIFTED)
def test_same_examples_as_the_original_other_images(name):
    orig_name = bundled_spec(name).derived_from
    a, b = get_task(orig_name, 40, seed=5), get_task(name, 40, seed=5)
    assert a.y == b.y and [e.question for e in a.examples] == [e.question for e in b.examples]
    assert a.labels == b.labels and a.instruction == b.instruction
    for x, y in zip(a.examples, b.examples):
        assert y.meta["shifted_from"] == orig_name
        assert {k: v for k, v in y.meta.items() if k != "shifted_from"} == x.meta
        assert y.image.size == x.image.size == (48, 48) and y.image.mode == "RGB"
        assert not np.array_equal(np.asarray(x.image), np.asarray(y.image))
    # the split made from the labels picks the same examples in both, so a neuron fitted on the original's probe
    # split is scored on the shifted images of the original's test examples
    sa, sb = make_split(a.y, 2, seed=0), make_split(b.y, 2, seed=0)
    assert np.array_equal(sa.test, sb.test) and np.array_equal(sa.probe, sb.probe)


@pytest.mark.parametrize("name", SHIFTED)
def test_shifted_images_are_deterministic(name):
    a, b = get_task(name, 12, seed=2, part="eval"), get_task(name, 12, seed=2, part="eval")
    assert all(np.array_equal(np.asarray(x.image), np.asarray(y.image)) for x, y in zip(a.examples, b.examples))


def test_the_shift_is_what_the_docs_say():
    for ex in get_task("shapes-color-shifted", 20).examples:  # a grey background, level 120-170 (plus noise)
        corner = np.asarray(ex.image).astype(float)[:3, :3].reshape(-1, 3)
        if np.ptp(corner.mean(0)) < 4:  # (a shape may cover a corner)
            assert 110 < corner.mean() < 180
    for ex in get_task("shapes-color", 20).examples:  # training backgrounds are light
        assert np.median(np.asarray(ex.image)) > 185
    noisy = np.asarray(get_task("digits-class-shifted", 1).examples[0].image).astype(float)
    clean = np.asarray(get_task("digits-class", 1).examples[0].image).astype(float)
    assert np.std(noisy[:4, :4]) > np.std(clean[:4, :4]) + 5  # the background corner carries noise

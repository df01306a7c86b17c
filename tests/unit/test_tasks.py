"""Bundled task generators: determinism, label balance, every label reachable, disjoint train/eval parts."""
from collections import Counter

import numpy as np
import pytest

from sn_core.data import bundled_task_names, get_task, make_split, shuffled_labels
from sn_core.data.bundled.digits import part_indices

TASKS = bundled_task_names()


def test_all_six_bundled_tasks_exist():
    """The six tasks the demo model was trained on; the unseen-question and shifted tasks derive from them."""
    from sn_core.data import bundled_task_names as names

    trained = {"shapes-color", "shapes-shape", "shapes-count", "shapes-exists", "digits-class", "digits-parity"}
    assert set(names("trained")) == trained and trained <= set(TASKS)
    assert set(TASKS) == set(names("trained")) | set(names("unseen-question")) | set(names("shifted"))


@pytest.mark.parametrize("name", TASKS)
def test_deterministic_in_seed(name):
    a, b = get_task(name, 40, seed=3), get_task(name, 40, seed=3)
    assert [e.label for e in a.examples] == [e.label for e in b.examples]
    assert [e.question for e in a.examples] == [e.question for e in b.examples]
    assert all(np.array_equal(np.asarray(x.image), np.asarray(y.image)) for x, y in zip(a.examples, b.examples))
    c = get_task(name, 40, seed=4)
    assert any(not np.array_equal(np.asarray(x.image), np.asarray(y.image)) for x, y in zip(a.examples, c.examples))


@pytest.mark.parametrize("name", TASKS)
def test_labels_balanced_and_all_reachable(name):
    task = get_task(name, 10 * len(get_task(name, 1).labels) + 3, seed=0)
    counts = Counter(task.y)
    assert set(counts) == set(task.labels), "every label must occur"
    assert max(counts.values()) - min(counts.values()) <= 1


@pytest.mark.parametrize("name", TASKS)
def test_images_are_rgb_48px(name):
    ex = get_task(name, 2, seed=0).examples[0]
    assert ex.image.mode == "RGB" and ex.image.size == (48, 48)


def test_shapes_labels_match_scene_metadata():
    for ex in get_task("shapes-count", 20).examples:
        assert len(ex.meta["objects"]) == int(ex.label)
    for ex in get_task("shapes-exists", 40).examples:
        assert (tuple(ex.meta["target"]) in [tuple(o) for o in ex.meta["objects"]]) == (ex.label == "yes")
    for ex in get_task("shapes-color", 20).examples:
        assert ex.meta["objects"][0][0] == ex.label


def test_train_and_eval_parts_differ():
    a = get_task("shapes-color", 30, seed=0, part="train")
    b = get_task("shapes-color", 30, seed=0, part="eval")
    assert all(not np.array_equal(np.asarray(x.image), np.asarray(y.image)) for x, y in zip(a.examples, b.examples))
    tr, ev = part_indices("train"), part_indices("eval")
    for d in range(10):
        assert not set(tr[d]) & set(ev[d])
    used = {e.meta["digits_index"] for e in get_task("digits-class", 300, part="eval").examples}
    assert not used & set(np.concatenate(list(tr.values())).tolist())


def test_parity_label_matches_digit():
    for ex in get_task("digits-parity", 30).examples:
        assert (ex.meta["digit"] % 2 == 0) == (ex.label == "yes")


@pytest.mark.parametrize("name, most", [("digits-class", 700), ("digits-parity", 712)])
def test_digit_tasks_never_repeat_an_image_for_a_split(name, most):
    """Probe and test are split by example: a repeated image could sit on both sides, so the eval part draws every
    image at most once (parity switches to another digit of the same parity when one runs out) and asking for more
    than the distinct images allow is a clear error. Training data (never split) may repeat."""
    for seed in range(4):
        ids = [e.meta["digits_index"] for e in get_task(name, most, seed=seed).examples]
        assert len(ids) == len(set(ids)) == most, seed
    for ex in get_task("digits-parity", most, seed=1).examples:
        assert (ex.meta["digit"] % 2 == 0) == (ex.label == "yes")
    with pytest.raises(ValueError, match=f"would repeat images.*at most {most} examples"):
        get_task(name, 800)  # more than either part of the eval images allows
    assert len(get_task(name, 2 * most, part="train").examples) == 2 * most


def test_unknown_task_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown task 'nope'.*shapes-color"):
        get_task("nope")


def test_split_is_stratified_disjoint_and_seeded():
    y = get_task("shapes-count", 100).y
    s = make_split(y, probe_per_class=10, seed=1)
    assert not set(s.probe) & set(s.test)
    assert len(s.probe) + len(s.test) == 100
    assert Counter(np.asarray(y)[s.probe]) == {lbl: 10 for lbl in ("1", "2", "3", "4")}
    assert np.array_equal(s.probe, make_split(y, 10, seed=1).probe)
    assert not np.array_equal(s.probe, make_split(y, 10, seed=2).probe)


def test_split_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least two classes"):
        make_split(["a"] * 10, 2)
    with pytest.raises(ValueError, match="class 'b' has 2 examples"):
        make_split(["a"] * 10 + ["b"] * 2, 5)


def test_shuffled_labels_keep_counts():
    y = ["a"] * 30 + ["b"] * 10
    z = shuffled_labels(y, seed=0)
    assert Counter(z) == Counter(y) and list(z) != y

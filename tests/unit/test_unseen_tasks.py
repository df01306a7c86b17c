"""Unseen-question tasks (sn_core/data/unseen.py): every bundled question readable by the demo tokenizer, labels
determined by the image and the question, balanced so that neither alone answers, registry kinds."""
from collections import Counter

import pytest
from tokenizers import Tokenizer

from sn_core import DEMO_MODEL_DIR
from sn_core.data import TASK_KINDS, bundled_spec, bundled_task_names, get_task
from sn_core.data.bundled.shapes import COLORS, SHAPES

UNSEEN = bundled_task_names("unseen-question")
TRAINED = ["shapes-color", "shapes-shape", "shapes-count", "shapes-exists", "digits-class", "digits-parity"]


@pytest.fixture(scope="module")
def demo_tokenizer():
    return Tokenizer.from_file(str(DEMO_MODEL_DIR / "tokenizer.json"))


def test_at_least_four_unseen_tasks_derived_from_trained_ones():
    assert len(UNSEEN) >= 4
    assert bundled_task_names("trained") == TRAINED
    for name in UNSEEN:
        spec = bundled_spec(name)
        assert spec.kind == "unseen-question" and spec.derived_from in TRAINED
        assert spec.labels == ("yes", "no")
    assert all(bundled_spec(n).kind in TASK_KINDS for n in bundled_task_names())
    with pytest.raises(ValueError, match="kind must be one of"):
        bundled_task_names("other")


@pytest.mark.parametrize("name", bundled_task_names())
def test_every_bundled_question_and_instruction_is_in_the_demo_vocabulary(name, demo_tokenizer):
    """A word outside the demo tokenizer's vocabulary reaches the model as <unk>: no bundled prompt may hold one."""
    unk = demo_tokenizer.token_to_id("<unk>")
    n = 60 if name.startswith("digits") else 200  # enough to ask about every value of every task
    task = get_task(name, n, seed=0)
    texts = {task.prompt_text(ex.question) for ex in task.examples}
    spec = bundled_spec(name)
    texts.add(" ".join(spec.labels))
    if "<" not in spec.question:  # (a template such as "Is there a <color> <shape>?" is never asked as such)
        texts.add(task.prompt_text(spec.question))
    for text in sorted(texts):
        enc = demo_tokenizer.encode(text, add_special_tokens=False)
        assert unk not in enc.ids, f"{name}: {text!r} -> {enc.tokens}"


def test_demo_vocabulary_comes_from_the_trained_tasks_only(demo_tokenizer):
    from sn_core.demo.model import vocabulary

    assert set(vocabulary()) <= set(demo_tokenizer.get_vocab())


def test_unseen_questions_are_new_to_the_demo_model():
    trained = {ex.question for t in TRAINED for ex in get_task(t, 200, seed=0, part="train").examples}
    for name in UNSEEN:
        assert not {ex.question for ex in get_task(name, 80, seed=0).examples} & trained, name


@pytest.mark.parametrize("name", UNSEEN)
def test_balanced_over_label_and_image_value(name):
    """Half yes; each value (colour, kind, count, digit) equally often in the images of either answer, and every
    value asked under either answer: neither the question alone nor the image alone tells the answer."""
    task = get_task(name, 240, seed=1)
    assert Counter(task.y) == {"yes": 120, "no": 120}
    asked = Counter((ex.label, ex.meta["asked"]) for ex in task.examples)
    values = {v for _, v in asked}
    assert all(asked[(lbl, v)] > 0 for lbl in ("yes", "no") for v in values)
    if name in ("shapes-is-color", "shapes-is-shape", "shapes-count-is", "digits-is"):
        shown = Counter((ex.label, _shown(name, ex)) for ex in task.examples)
        assert max(shown.values()) - min(shown.values()) <= 2, shown


def _shown(name, ex):
    if name == "digits-is":
        return ex.meta["digit"]
    if name == "shapes-count-is":
        return len(ex.meta["objects"])
    return ex.meta["objects"][0][0 if name == "shapes-is-color" else 1]


@pytest.mark.parametrize("name", UNSEEN)
def test_label_is_what_the_image_shows_for_the_value_asked(name):
    for ex in get_task(name, 80, seed=2).examples:
        a, objs = ex.meta["asked"], ex.meta.get("objects")
        truth = {
            "shapes-is-color": lambda: objs[0][0] == a,
            "shapes-is-shape": lambda: objs[0][1] == a,
            "shapes-count-is": lambda: str(len(objs)) == a,
            "shapes-has-shape": lambda: any(o[1] == a for o in objs),
            "shapes-has-color": lambda: any(o[0] == a for o in objs),
            "digits-is": lambda: str(ex.meta["digit"]) == a,
        }[name]()
        assert truth == (ex.label == "yes"), (name, ex.question, ex.meta)
        assert a in ex.question.replace("?", "").split() or (a == "1" and ex.question == "Is there one shape?")
    assert set(COLORS) and set(SHAPES)


def test_digits_is_never_repeats_an_eval_image():
    ids = [ex.meta["digits_index"] for ex in get_task("digits-is", 700, seed=0).examples]
    assert len(ids) == len(set(ids))
    with pytest.raises(ValueError, match="would repeat images"):
        get_task("digits-is", 800)

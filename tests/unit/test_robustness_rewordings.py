"""Rewordings of the robustness report: the defaults use only words the demo tokenizer knows, the file format, and
the image controls (no model forward pass)."""
from __future__ import annotations

import numpy as np
import pytest

from sn_core import DEMO_MODEL_DIR
from sn_core.data import bundled_task_names, get_task
from sn_core.reports.robustness import (DEFAULT_QUESTION_REWORDINGS, Rewording, RewordingError, control_images,
                                default_rewordings, load_rewordings, parse_rewordings, reworded_questions,
                                unknown_words)


@pytest.fixture(scope="module")
def demo_tokenizer():
    from transformers import AutoTokenizer

    if not (DEMO_MODEL_DIR / "tokenizer.json").is_file():
        pytest.skip("demo model missing (assets/demo-vlm)")
    return AutoTokenizer.from_pretrained(str(DEMO_MODEL_DIR))


def test_unknown_words_detects_out_of_vocabulary(demo_tokenizer):
    assert unknown_words(demo_tokenizer, "What color is the shape? Answer with one word.") == []
    assert unknown_words(demo_tokenizer, "What colour is the shape?") == ["colour"]


@pytest.mark.parametrize("name", bundled_task_names())
def test_default_rewordings_use_only_demo_vocabulary(name, demo_tokenizer):
    task = get_task(name, 24, seed=0)
    rws = default_rewordings(name)
    assert len(rws) >= 2  # at least the instruction rewordings
    for rw in rws:
        instr = task.instruction if rw.instruction is None else rw.instruction
        for q in dict.fromkeys(reworded_questions(rw, task.examples)):
            text = f"{q} {instr}".strip()
            assert unknown_words(demo_tokenizer, text) == [], (name, text)


def test_default_lists_cover_trained_tasks_and_shifted_variants():
    for name in bundled_task_names("trained"):
        assert name in DEFAULT_QUESTION_REWORDINGS
        assert any(rw.question != "{question}" for rw in default_rewordings(name))
    for name in bundled_task_names("shifted"):  # the shifted variant asks its trained task's question
        assert any(rw.question != "{question}" for rw in default_rewordings(name))
    assert all(rw.question == "{question}" for rw in default_rewordings("my-own-task"))


def test_parse_rewordings_format(tmp_path):
    rws = parse_rewordings("# comment\n\nWhat color is it?\n{question} | Answer with a word.\n"
                           "Is a {color} {shape} there? |\n")
    assert rws == [Rewording("What color is it?", None), Rewording("{question}", "Answer with a word."),
                   Rewording("Is a {color} {shape} there?", "")]
    f = tmp_path / "r.txt"
    f.write_text(" | Answer.\n", encoding="utf-8")
    assert load_rewordings(f) == [Rewording("{question}", "Answer.")]


@pytest.mark.parametrize("text, match", [
    ("", "no rewordings"),
    ("# only a comment\n", "no rewordings"),
    ("What {colour} is it?", "unknown placeholder"),
    ("What color is it? | a | b", "more than one"),
    ("What color is it {", "bad template"),
])
def test_parse_rewordings_errors(text, match):
    with pytest.raises(RewordingError, match=match):
        parse_rewordings(text)


def test_load_rewordings_errors(tmp_path):
    with pytest.raises(RewordingError, match="not found"):
        load_rewordings(tmp_path / "missing.txt")
    with pytest.raises(RewordingError, match="not a file"):
        load_rewordings(tmp_path)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("What col\xf6r?".encode("latin-1"))
    with pytest.raises(RewordingError, match="UTF-8"):
        load_rewordings(bad)


def test_target_placeholders_only_where_the_question_names_one():
    exists = get_task("shapes-exists", 6, seed=0)
    qs = reworded_questions(Rewording("Is a {color} {shape} there?"), exists.examples)
    for q, ex in zip(qs, exists.examples):
        assert q == f"Is a {ex.meta['target'][0]} {ex.meta['target'][1]} there?"
    with pytest.raises(RewordingError, match="name no color"):
        reworded_questions(Rewording("Is it {color}?"), get_task("digits-parity", 4, seed=0).examples)


def test_control_images():
    ims = [ex.image for ex in get_task("shapes-color", 6, seed=0).examples]
    blank = control_images("blank", ims)
    assert all(np.asarray(b).std() == 0 and b.size == ims[0].size for b in blank)
    n0, n1 = control_images("noise", ims, seed=0), control_images("noise", ims, seed=1)
    assert not np.array_equal(np.asarray(n0[0]), np.asarray(n0[1]))
    assert not np.array_equal(np.asarray(n0[0]), np.asarray(n1[0]))
    assert np.array_equal(np.asarray(n0[0]), np.asarray(control_images("noise", ims, seed=0)[0]))  # seeded
    shuffled = control_images("shuffled", ims, seed=0)
    src = [next(j for j, im in enumerate(ims) if np.array_equal(np.asarray(im), np.asarray(s))) for s in shuffled]
    assert sorted(src) == list(range(len(ims))) and all(j != i for i, j in enumerate(src))  # a derangement
    with pytest.raises(ValueError, match="unknown control"):
        control_images("upside-down", ims)

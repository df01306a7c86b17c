"""Multiple choice in manifests (sn_core.data.choices): lettered options, letter classes, bad rows named."""
from __future__ import annotations

import json

import pytest

from sn_core.data import ManifestError, load_manifest
from sn_core.data.choices import MC_INSTRUCTION, mc_example, parse_choices
from tests.helpers.benchmark_fixtures import scene


def _manifest(tmp_path, rows, suffix=".jsonl"):
    for i in range(4):
        scene(["red", "blue"][i % 2], i).save(tmp_path / f"{i}.png")
    p = tmp_path / f"m{suffix}"
    if suffix == ".jsonl":
        p.write_text("\n".join(json.dumps(r) for r in rows))
    else:
        import csv

        with open(p, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return p


def test_manifest_rows_with_choices_become_letters(tmp_path):
    rows = [{"image": f"{i}.png", "question": "What color is it?", "choices": ["red", "blue", "green"],
             "label": ["red", 1, "green", "0"][i]} for i in range(4)]
    task = load_manifest(_manifest(tmp_path, rows))
    assert task.labels == ("A", "B", "C") and task.y == ["A", "B", "C", "A"]
    assert task.instruction == MC_INSTRUCTION
    assert task.examples[1].question == "What color is it?\nA. red\nB. blue\nC. green"
    assert task.examples[1].meta["answer"] == "blue" and task.examples[1].meta["choices"] == ["red", "blue", "green"]
    assert task.prompt_text(task.examples[0].question).endswith("C. green " + MC_INSTRUCTION)


def test_csv_choices_pipe_or_json(tmp_path):
    rows = [{"image": "0.png", "question": "Colour?", "choices": "red|blue", "label": "blue"},
            {"image": "1.png", "question": "Colour?", "choices": '["red", "blue"]', "label": "red"}]
    task = load_manifest(_manifest(tmp_path, rows, ".csv"))
    assert task.y == ["B", "A"]


@pytest.mark.reliability
@pytest.mark.parametrize("rows,msg", [
    ([{"image": "0.png", "question": "q", "choices": ["a", "b"], "label": "c"},
      {"image": "1.png", "question": "q", "choices": ["a", "b"], "label": "a"}],
     r"m.jsonl row 1: label 'c' is not one of the choices \['a', 'b'\]"),
    ([{"image": "0.png", "question": "q", "choices": ["a", "b"], "label": "a"},
      {"image": "1.png", "question": "q", "choices": ["a", "b"], "label": 2}],
     r"m.jsonl row 2: label index 2 is outside the 2 choices"),
    ([{"image": "0.png", "question": "q", "choices": ["a"], "label": "a"}], r"row 1: 1 choice\(s\)"),
    ([{"image": "0.png", "question": "q", "choices": ["a", "a"], "label": "a"}], r"row 1: choice 'a' is listed twice"),
    ([{"image": "0.png", "question": "q", "choices": ["a", "b"], "label": "a"},
      {"image": "1.png", "question": "q", "label": "a"}], r"row 2: has no choices, unlike the rows before"),
])
def test_bad_multiple_choice_rows_named(tmp_path, rows, msg):
    with pytest.raises(ManifestError, match=msg):
        load_manifest(_manifest(tmp_path, rows))


def test_choice_limits():
    assert len(parse_choices([str(i) for i in range(26)], "r")) == 26
    with pytest.raises(ValueError, match="27 choice"):
        parse_choices([str(i) for i in range(27)], "r")
    q, lbl, meta = mc_example("Q?", ["1", "2", "3"], "2", "r")  # a choice's text wins over an index
    assert lbl == "B" and meta["answer"] == "2"
    with pytest.raises(ValueError, match="neither"):
        mc_example("Q?", ["x", "y"], True, "r")

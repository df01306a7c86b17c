"""The measured claims file the About page shows (bench/results/claims-demo.json, written by bench/claims.py --json):
its content is consistent, the README states what it holds, and a malformed file is one clear error."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sn_core.reports import claims as claims_table

REPO = Path(__file__).resolve().parents[2]


def test_committed_claims_are_consistent():
    data = claims_table.load_claims()
    unseen, shifted = claims_table.unseen_frame(data), claims_table.shifted_frame(data)
    assert len(unseen) >= 4 and len(shifted) >= 2  # the minimum: 4 unseen-question tasks, 2 shifts
    for df in (unseen, shifted):
        for who in ("neuron", "base"):
            acc, lo, hi = df[f"{who}_accuracy"], df[f"{who}_ci_low"], df[f"{who}_ci_high"]
            assert ((0 <= lo) & (lo <= acc) & (acc <= hi) & (hi <= 1)).all()
        assert df["neuron_vs_generated"].str.match(r"^(beats|worse|n\.s\.) \(p = ").all()
    assert set(unseen["condition"]) == {r["task"] for r in data["unseen"]}
    assert data["settings"]["command"].startswith("python bench/claims.py")


def test_readme_states_the_committed_unseen_question_count():
    n_beats, n = claims_table.beats_count(claims_table.unseen_frame(claims_table.load_claims()))
    readme = (REPO / "README.md").read_text()
    m = re.search(r"beats the model's generated\s+answer with\s+p < 0.05 on (\d+) of (\d+)", readme)
    assert m, "README no longer states the unseen-question result"
    assert (int(m.group(1)), int(m.group(2))) == (n_beats, n)


def _valid() -> dict:
    return json.loads(claims_table.CLAIMS_FILE.read_text())


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("settings"), "no 'settings' object"),
    (lambda d: d.update(unseen={}), "'unseen' is not a list"),
    (lambda d: d["unseen"][0].pop("neuron"), "unseen[0] lacks neuron"),
    (lambda d: d["shifted"][0]["neuron_shifted"].update(accuracy="high"), "shifted[0].neuron_shifted needs numeric"),
    (lambda d: d["unseen"][1].update(vs_generated="beats"), "unseen[1].vs_generated must be [verdict, p]"),
])
def test_malformed_claims_file_is_one_clear_error(tmp_path, mutate, message):
    data = _valid()
    mutate(data)
    path = tmp_path / "claims.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=re.escape(message)) as e:
        claims_table.load_claims(path)
    assert str(e.value).startswith("claims.json: ")


def test_missing_or_unreadable_claims_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        claims_table.load_claims(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not readable JSON"):
        claims_table.load_claims(tmp_path / "bad.json")

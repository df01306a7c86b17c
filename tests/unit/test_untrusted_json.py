"""User-supplied JSON read through ``sn_core.safe_json.loads_untrusted`` (manifest rows, classifier artifacts, model
configs; shortcut cards in ``tests/integration/test_shortcut_tampering.py``), and the fields those documents must
hold: one error naming the file, the row and the field, never a RecursionError, Python's integer-digit
ValueError or a UnicodeEncodeError later on.

- Deep nesting (200,000 ``[``), an integer of 5,001 digits, a lone surrogate, a null or empty field in a manifest.
- A classifier artifact with a blank label, two labels differing only in case, a neuron whose class means are all
  null, or ``meta.seed: -1``.
- Benchmark annotation files and a manifest row's JSON ``choices`` nested too deeply.
- No ``json.loads`` of a user file outside the loader (a scan of the package).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sn_core.classifier import ArtifactError, SuperNeuronClassifier
from sn_core.cli.main import main
from sn_core.data import ManifestError, load_manifest

PACKAGE = Path(__file__).resolve().parents[2] / "sn_core"
GOOD = '{"image": "a.png", "question": "Colour?", "label": "red"}'


@pytest.fixture
def folder(tmp_path):
    for name, color in [("a.png", "red"), ("b.png", "blue")]:
        Image.new("RGB", (8, 8), color).save(tmp_path / name)
    return tmp_path


def _manifest(folder: Path, second_row: str, name: str = "m.jsonl") -> Path:
    p = folder / name
    p.write_text(GOOD + "\n" + second_row + "\n", encoding="utf-8")
    return p


@pytest.mark.reliability
@pytest.mark.parametrize("row, match", [
    ("[" * 200_000 + "]" * 200_000, r"m\.jsonl row 2: its JSON is nested too deeply"),
    ('{"a":' * 200_000 + "1" + "}" * 200_000, r"m\.jsonl row 2: its JSON is nested too deeply"),
    ('{"image": "b.png", "question": "Colour?", "label": ' + "7" * 5001 + "}",
     r"m\.jsonl row 2: field label is an integer of 5,001 digits; numbers are limited to 4,300 digits"),
    ('{"image": "b.png", "question": "Colour?", "label": "blue", "extra": [1, -' + "7" * 5001 + "]}",
     r"m\.jsonl row 2: field extra\[1\] is an integer of 5,001 digits"),
    ('{"image": "b.png", "question": "Colour?", "label": "bl\\ud800ue"}',
     r"m\.jsonl row 2: field label holds a lone surrogate"),
    ('{"image": "b.png", "question": "What is \\udfff?", "label": "blue"}',
     r"m\.jsonl row 2: field question holds a lone surrogate"),
    ('{"image": "b.png", "question": "Colour?", "label": ""}', r"m\.jsonl row 2: field label is empty$"),
    ('{"image": "b.png", "question": "Colour?", "label": null}', r"m\.jsonl row 2: field label is null"),
    ('{"image": null, "question": "Colour?", "label": "blue"}', r"m\.jsonl row 2: field image is null"),
])
def test_reliability_manifest_rows_name_row_and_field(folder, row, match):
    """Each bad row is one ManifestError naming the file, row and field; the old parser raised RecursionError,
    Python's 4,300-digit ValueError, or "missing field(s) label ... found 'label'"."""
    with pytest.raises(ManifestError, match=match) as e:
        load_manifest(_manifest(folder, row))
    assert "\n" not in str(e.value)


@pytest.mark.reliability
def test_reliability_csv_short_row_names_the_field(folder):
    p = folder / "m.csv"
    p.write_text("image,question,label\na.png,Colour?,red\nb.png,Colour?\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"m\.csv row 2: field label is missing: the row has fewer fields"):
        load_manifest(p)


@pytest.mark.reliability
def test_reliability_cli_deeply_nested_manifest_is_one_line(folder, capsys):
    """``search --task`` on a manifest row of 200,000 ``[``: exit 2, one ``error:`` line naming file and row."""
    p = _manifest(folder, "[" * 200_000 + "]" * 200_000)
    rc = main(["search", "--task", str(p), "--json"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and err == ["error: m.jsonl row 2: its JSON is nested too deeply"], err


# ------------------------------------------------------------------------------------------------ artifacts
def _doc(labels=("a", "b"), rule="stump") -> dict:
    y = [labels[i % len(labels)] for i in range(6)]
    X = np.arange(6, dtype=float)[:, None]
    clf = SuperNeuronClassifier(neurons=("blocks.1.mlp.hook_post[3]",), rule=rule).fit(X, y)
    return clf.to_dict(model_id="demo", weights_hash="ab" * 32, instruction="Answer with one word.")


def _labels(doc, labels):
    doc["labels"] = list(labels)
    return doc


def _all_means_null(doc):
    doc["neurons"][0]["class_means"] = [None] * len(doc["labels"])
    return doc


def _meta(doc, **kv):
    doc.setdefault("meta", {}).update(kv)
    return doc


@pytest.mark.reliability
@pytest.mark.parametrize("edit, match", [
    (lambda d: _labels(d, [" ", "b"]), r"labels\[0\] is blank"),
    (lambda d: _labels(d, ["", "b"]), r"labels\[0\] is blank"),
    (lambda d: _labels(d, ["Red", "red"]), "labels 'Red' and 'red' differ only in case or punctuation"),
    (lambda d: _labels(d, ["light blue", "light-blue"]), "differ only in case or punctuation"),
    (_all_means_null, r"neurons\[0\]\['class_means'\] are all null"),
    (lambda d: _all_means_null(_doc(("a", "b", "c"), "nearest_mean")), r"neurons\[0\]\['class_means'\] are all null"),
    (lambda d: _meta(d, seed=-1), r"artifact\['meta'\]\['seed'\] must be an integer from 0"),
    (lambda d: _meta(d, probe_per_class=0), r"artifact\['meta'\]\['probe_per_class'\] must be an integer from 1"),
    (lambda d: _meta(d, seed=True), r"artifact\['meta'\]\['seed'\]"),
])
def test_reliability_artifact_fields_that_cannot_classify_are_refused(tmp_path, edit, match):
    """Accepted before: blank or case-duplicate labels, all class means null (nothing to compare with), and a
    negative split seed, which failed later as numpy's "expected non-negative integer", naming nothing."""
    path = tmp_path / "c.json"
    path.write_text(json.dumps(edit(_doc())), encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"c\.json: .*" + match) as e:
        SuperNeuronClassifier.from_json(path)
    assert "\n" not in str(e.value)


@pytest.mark.reliability
def test_reliability_artifact_with_a_5001_digit_integer_names_the_field(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_doc()).replace('"class_counts": [3, 3]', '"class_counts": [3, ' + "9" * 5001 + "]"))
    with pytest.raises(ArtifactError, match=r"c\.json: field class_counts\[1\] is an integer of 5,001 digits"):
        SuperNeuronClassifier.from_json(path)
    rc = main(["predict", "--classifier", str(path), "--task", "shapes-color"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(err) == 1 and "class_counts[1] is an integer of 5,001 digits" in err[0], err


@pytest.mark.reliability
def test_reliability_model_config_nested_too_deeply_is_one_line(tmp_path):
    from sn_core.models import UnknownModelError, load_model

    (tmp_path / "config.json").write_text("[" * 200_000 + "]" * 200_000)
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(UnknownModelError, match="config.json: its JSON is nested too deeply") as e:
        load_model(str(tmp_path))
    assert "\n" not in str(e.value)


@pytest.mark.security
def test_security_user_json_goes_through_the_one_loader():
    """``json.loads``/``json.load`` on files a user supplies live only in sn_core/safe_json.py; the other calls
    read the library's own cache (store, search listing) or bundled files, named here."""
    own = {"store/cache.py", "models/files.py", "demo/training.py", "demo/card.py", "reports/claims.py",
           "models/faithful_configs.py",  # the bundled checkpoint configs (sn_core/models/checkpoint_configs)
           "safe_json.py"}
    found = set()
    for p in PACKAGE.rglob("*.py"):
        if re.search(r"\bjson\.loads?\(", p.read_text(encoding="utf-8")):
            found.add(p.relative_to(PACKAGE).as_posix())
    assert found <= own, sorted(found - own)


@pytest.mark.security
def test_security_benchmark_json_nested_too_deeply_is_one_line(tmp_path, folder):
    """Benchmark annotation files (A-OKVQA, ScienceQA, POPE rows) and a manifest row's JSON ``choices`` go through
    the same loader: 200,000 nested ``[`` is one error naming the file (and row and field), not a RecursionError."""
    from sn_core.data.benchmarks import BenchmarkError, load_benchmark

    deep = "[" * 200_000 + "]" * 200_000
    (tmp_path / "aokvqa_v1p0_val.json").write_text(deep)
    with pytest.raises(BenchmarkError, match=r"^aokvqa_v1p0_val\.json: its JSON is nested too deeply$"):
        load_benchmark(f"aokvqa:{tmp_path}")
    row = json.dumps({"image": "b.png", "question": "Colour?", "label": "blue", "choices": "<deep>"})
    first = json.dumps({"image": "a.png", "question": "Colour?", "label": "red", "choices": ["red", "blue"]})
    p = folder / "mc.jsonl"
    p.write_text(first + "\n" + row.replace('"<deep>"', json.dumps(deep)) + "\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"mc\.jsonl row 2: choices \(a JSON list\): its JSON is nested too "
                                            "deeply") as e:
        load_manifest(p)
    assert "\n" not in str(e.value)

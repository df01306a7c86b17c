"""Shortcut cards edited and re-sealed (``card_sha256`` recomputed), or malformed, are one ``ShortcutError`` line.

- ``card.json`` of 200,000 nested ``[`` or with a 5,001-digit integer: the file and field are named (no
  RecursionError, no Python integer-digit ValueError).
- ``"files": ["a"]`` (a list where the card maps files to hashes): the field is named (AttributeError before).
- A processor chat template that raises, re-sealed with its new hash: ``predict`` names the template's folder and
  message (a jinja2 traceback before).
- A card whose embedded classifier disagrees with its graph (class means, another neuron id, the polarity),
  re-sealed: the graph records the sha256 of the classifier it was exported with, and the card is refused.
"""
from __future__ import annotations

import json
import shutil

import pytest

from sn_core.classifier import SuperNeuronClassifier
from sn_core.cli.main import main

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def exported(tiny_llava_artifact, tmp_path_factory):
    """A tiny LLaVA exported as a shortcut (nearest-mean rule over two neurons, three labels)."""
    from sn_core.shortcut import export_shortcut

    root, loaded, _ = tiny_llava_artifact
    X = [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [0.1, 0.9], [0.9, 0.1], [2.1, 1.9]]
    clf = SuperNeuronClassifier(neurons=("blocks.0.mlp.hook_post[3]", "blocks.0.mlp.hook_post[5]"),
                                rule="nearest_mean").fit(X, ["a", "b", "c"] * 2)
    clf.meta_ = {"model_id": str(root / "model"), "weights_hash": loaded.weights_hash,
                 "instruction": "Answer with one word."}
    return export_shortcut(clf, tmp_path_factory.mktemp("tamper") / "shortcut", loaded=loaded)


def _resealed(src, dst, edit):
    from sn_core.shortcut.card import seal

    shutil.copytree(src, dst)
    card = json.loads((dst / "card.json").read_text())
    edit(card, dst)
    (dst / "card.json").write_text(json.dumps(seal(card)))
    return dst


def _refused(folder, match):
    from sn_core.shortcut import ShortcutError, load_shortcut

    with pytest.raises(ShortcutError, match=match) as e:
        load_shortcut(folder)
    assert "\n" not in str(e.value)


def test_the_exported_shortcut_loads(exported):
    from sn_core.shortcut import load_shortcut

    assert load_shortcut(exported).labels == ["a", "b", "c"]


@pytest.mark.parametrize("text, match", [
    ("[" * 200_000 + "]" * 200_000, r"card\.json: its JSON is nested too deeply"),
    ('{"format": "super-neuron-shortcut", "format_version": ' + "1" * 5001 + "}",
     r"card\.json: field format_version is an integer of 5,001 digits"),
])
def test_unparseable_card_names_file_and_field(exported, tmp_path, text, match):
    c = tmp_path / "c"
    shutil.copytree(exported, c)
    (c / "card.json").write_text(text)
    _refused(c, match)


def test_resealed_card_with_files_as_a_list_is_refused(exported, tmp_path):
    _refused(_resealed(exported, tmp_path / "c", lambda card, _: card.update(files=["a"])), "card field 'files'")


def _raising_template(card, folder):
    from sn_core.shortcut.card import file_sha256

    path = folder / "processor" / "chat_template.jinja"
    path.write_text("{{ raise_exception('boom') }}")
    card["files"]["processor/chat_template.jinja"] = file_sha256(path)


def test_resealed_processor_template_that_raises_is_one_line(exported, tmp_path, capsys):
    from PIL import Image

    from sn_core.shortcut import ShortcutError, load_shortcut

    c = _resealed(exported, tmp_path / "c", _raising_template)
    with pytest.raises(ShortcutError, match="chat template in .* fails: boom"):
        load_shortcut(c).predict([Image.new("RGB", (16, 16))], "Which?")
    img = tmp_path / "x.png"
    Image.new("RGB", (16, 16)).save(img)
    rc = main(["predict", "--shortcut", str(c), "--image", str(img), "--question", "Which?"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(err) == 1 and "fails: boom" in err[0], err


def _means(card, _):
    card["classifier"]["neurons"][0]["class_means"] = [9.0, 9.0, 9.0]


def _polarity(card, _):
    card["classifier"]["neurons"][0]["polarity"] = 7


def _other_neuron(card, _):
    """Another neuron, consistently in the card's neuron list and in its classifier."""
    for n in (card["neurons"][0], card["classifier"]["neurons"][0]):
        n.update(id="blocks.0.mlp.hook_post[4]", index=4)


def _swapped_means(card, _):
    n = card["classifier"]["neurons"]
    n[0]["class_means"], n[1]["class_means"] = n[1]["class_means"], n[0]["class_means"]


@pytest.mark.parametrize("edit", [_means, _polarity, _other_neuron, _swapped_means])
def test_resealed_card_whose_classifier_is_not_the_graphs_is_refused(exported, tmp_path, edit):
    _refused(_resealed(exported, tmp_path / "c", edit), "card field 'classifier' differs from the classifier the "
                                                        "graph was exported with")


def test_graph_without_a_recorded_classifier_is_refused(exported, tmp_path):
    """A graph without the record (edited out, and the card re-sealed with the new graph hash) is refused."""
    import onnx

    from sn_core.shortcut.card import file_sha256
    from sn_core.shortcut.rule_check import RULE_KEY

    def strip(card, folder):
        g = folder / card["onnx"]["file"]
        proto = onnx.load(str(g))
        kept = [p for p in proto.metadata_props if p.key != RULE_KEY]
        del proto.metadata_props[:]
        proto.metadata_props.extend(kept)
        onnx.save(proto, str(g))
        card["onnx"]["sha256"] = file_sha256(g)

    _refused(_resealed(exported, tmp_path / "c", strip), "the graph records no classifier")


def test_special_token_in_a_shortcut_question_is_named(exported):
    from PIL import Image

    from sn_core.shortcut import load_shortcut
    from sn_core.special_tokens import SpecialTokenError

    with pytest.raises(SpecialTokenError, match="the text 'What is <image> here.*' holds '<image>'"):
        load_shortcut(exported).predict([Image.new("RGB", (16, 16))], "What is <image> here?")

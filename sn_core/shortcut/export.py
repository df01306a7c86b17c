"""Export a Super Neuron classifier as a standalone shortcut: one ONNX graph + processor files + a card.

``export_shortcut`` loads the model up to the exit layer, exports the graph (``sn_core.shortcut.graph``: what the
graph computes, its inputs and outputs), saves the processor files and writes the sealed card into a new folder;
``shortcut_zip_bytes`` returns an exported folder as a ZIP.

Families: LLaVA (``llava``) and LLaVA-OneVision (``llava_onevision``) export; any other family is refused with one
line naming it (docs/families.md).
"""
from __future__ import annotations

import datetime
import io
import platform
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from sn_core.shortcut.card import (CARD_FORMAT, CARD_VERSION, GRAPH_NAME, PROCESSOR_DIR, ShortcutError, pin,
                                   processor_files, read_card, write_card)
# The graph's modules and inputs live in sn_core.shortcut.graph; these names stay importable from here.
from sn_core.shortcut.graph import (EXPORT_FAMILIES, INPUT_NAMES, OPSET, OUTPUT_NAMES, RuleModule,  # noqa: F401
                                    ShortcutModule, _example_batch, check_family, export_graph, family_layout,
                                    graph_inputs, onevision_layout)
from sn_core.shortcut.prep import QWEN
from sn_core.shortcut.folders import check_out, temp_beside, written_into
from sn_core.shortcut.refit import needs_refit, refit_float32
from sn_core.shortcut.rule_check import stamp_graph


def _versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("sn_core", "torch", "transformers", "onnx", "onnxscript", "onnxruntime", "numpy"):
        if name == "sn_core":
            from sn_core import __version__

            out[name] = __version__
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# ------------------------------------------------------------------------------------------------ export
def export_shortcut(classifier, out, model: str | None = None, loaded=None, test_accuracy: float | None = None,
                    search_key: str | None = None, root=None, external_data: bool | None = None,
                    refit_test: bool = True, float16: bool = False) -> Path:
    """Write the standalone shortcut of ``classifier`` (a fitted ``SuperNeuronClassifier`` with neuron ids, or the
    path of its JSON artifact) to the new folder ``out`` and return it.

    The model is the one the artifact names (or ``model``), loaded in float32 up to the exit layer only;
    ``loaded``: an already loaded model (also up to the exit layer only). The folder is written next to ``out``
    under a temporary name and renamed when complete, so a failure leaves nothing at ``out``. ``out`` must not
    exist, or be an empty folder. ``test_accuracy``: the held-out accuracy to write on the card; by default it is
    taken from the search that fitted the classifier when the store (``root``) still has it, else left null.

    A classifier fitted in bf16 / fp16 is re-fitted on float32 values of its probe examples first
    (``sn_core.shortcut.refit``; ``refit_test``: also measure the re-fitted rule on the test split). The family is
    checked before any weight is loaded. ``external_data``: write the weights to ``shortcut.onnx.data`` (default:
    when the loaded parameters exceed ``EXTERNAL_DATA_BYTES``). ``float16``: write the float16 version of the graph
    instead (``sn_core.shortcut.half``: the float32 graph is exported beside ``out``, converted, and removed)."""
    from sn_core.classifier.estimator import ArtifactError, SuperNeuronClassifier

    out = check_out(Path(out))
    source = None
    if not isinstance(classifier, SuperNeuronClassifier):
        source = Path(classifier)
        classifier = SuperNeuronClassifier.from_json(source)
    clf = classifier
    if clf.neurons is None:
        raise ArtifactError("the classifier has anonymous columns (no neuron ids); export needs a classifier made "
                            "by a search")
    meta = clf.meta_ or {}
    check_family_early(clf, model, loaded)
    exit_layer = int(clf.exit_layer_)
    if loaded is not None and loaded.dtype != torch.float32:
        loaded = None  # a bf16 / fp16 model (a GPU search's): the graph is exported from a float32 copy
    if loaded is None:
        loaded = _load_for_export(clf, model, source, exit_layer)
    check_family(loaded.model.config.model_type, loaded.model_id)
    want = meta.get("weights_hash")
    if want and want != loaded.weights_hash:
        raise ArtifactError(f"the classifier was fitted on weights {want[:12]}..., but model {loaded.model_id!r} "
                            f"has weights {loaded.weights_hash[:12]}...")
    from sn_core.shortcut.early_exit import EarlyExitPredictor

    EarlyExitPredictor(loaded, clf)  # the same checks (neuron ranges, exit layer) as the library path
    if test_accuracy is None:
        test_accuracy, search_key = _search_test_accuracy(clf, search_key, root)
    refit = None
    if needs_refit(clf):  # fitted on bf16 / fp16 values: the rule is re-fitted on float32 values (refit.py)
        clf, refit = refit_float32(clf, loaded, root=root, test_accuracy=test_accuracy, with_test=refit_test)
        test_accuracy = refit["float32"]["test_accuracy"]
    pred = EarlyExitPredictor(loaded, clf)
    if float16:
        return _export_float16(loaded, clf, pred, out, exit_layer, test_accuracy, search_key, external_data, refit,
                               root)
    with written_into(out) as tmp:
        _write_folder(tmp, loaded, clf, pred, exit_layer, test_accuracy, search_key, external_data, refit)
    return out


def _write_folder(tmp: Path, loaded, clf, pred, exit_layer, test_accuracy, search_key, external_data, refit):
    card = _write(tmp, loaded, clf, pred, exit_layer, test_accuracy, search_key, external_data)
    card["refit"] = refit
    write_card(tmp, card)
    read_card(tmp)  # what was written verifies


def _export_float16(loaded, clf, pred, out, exit_layer, test_accuracy, search_key, external_data, refit, root):
    """The float32 shortcut in a temporary folder beside ``out``, then its float16 version at ``out``."""
    from sn_core.shortcut.half import float16_shortcut

    tmp = temp_beside(out, "float32")
    try:
        _write_folder(tmp, loaded, clf, pred, exit_layer, test_accuracy, search_key, external_data, refit)
        return float16_shortcut(tmp, out, root=root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


EXTERNAL_DATA_BYTES = 1 << 30  # graphs whose weights exceed this keep them in shortcut.onnx.data


def check_family_early(clf, model, loaded) -> None:
    """Refuse a family the exporter does not handle from its ``config.json`` alone, before any weight is read."""
    import json as _json

    if loaded is not None:
        check_family(loaded.model.config.model_type, loaded.model_id)
        return
    name = model or (clf.meta_ or {}).get("model_id")
    if not name:
        return
    try:
        from sn_core.models.files import resolve_model_path

        path, model_id = resolve_model_path(name)
        model_type = _json.loads((Path(path) / "config.json").read_text(encoding="utf-8")).get("model_type")
    except Exception:  # noqa: BLE001 - an unreadable model is reported by the loader, in its own words
        return
    if isinstance(model_type, str):
        check_family(model_type, model_id)


def _search_test_accuracy(clf, search_key, root):
    """(held-out test accuracy, search key) from the search that fitted ``clf``, when the store still has it."""
    key = search_key or ((clf.meta_ or {}).get("meta") or {}).get("search_key")
    if not key:
        return None, None
    try:
        from sn_core.search.run import SearchResult

        res = SearchResult.load(key, root=root)
        if res.classifier(list(clf.neurons_)).meta_.get("weights_hash") != (clf.meta_ or {}).get("weights_hash"):
            return None, key
        return float(res.test_accuracy(list(clf.neurons_))), key
    except Exception:  # noqa: BLE001 - no store, an older format: the card then says test accuracy unknown
        return None, key


def _load_for_export(clf, model, source, exit_layer):
    from sn_core.classifier.estimator import ArtifactError
    from sn_core.models import UnknownModelError, load_model

    name = model or (clf.meta_ or {}).get("model_id")
    if not name:
        raise ArtifactError("the classifier names no model; pass one (--model)")
    try:
        return load_model(name, dtype="float32", max_layers=exit_layer + 1)
    except UnknownModelError as e:
        if model:
            raise
        where = f"{source}: " if source else ""
        raise UnknownModelError(f"{where}the classifier names model {name!r}, which cannot be loaded here ({e}); if "
                                "the model moved, pass its folder (--model)") from None


def _write(tmp: Path, loaded, clf, pred, exit_layer: int, test_accuracy, search_key,
           external_data: bool | None = None) -> dict:
    import onnx

    from sn_core.models.generation import label_token_budget
    from sn_core.sites import parse_neuron_id, site_name

    model_type = loaded.model.config.model_type
    layout = family_layout(loaded.model.config)
    module = ShortcutModule(loaded, clf).eval()
    batch = _example_batch(loaded, lambda q: f"{q} {pred.instruction}".strip() if pred.instruction else q)
    feeds = graph_inputs(model_type, batch, layout)
    names = INPUT_NAMES[model_type]
    graph = tmp / GRAPH_NAME
    if external_data is None:
        size = sum(p.numel() * p.element_size() for p in module.parameters())
        external_data = size > EXTERNAL_DATA_BYTES
    export_graph(module, feeds, model_type, graph, OUTPUT_NAMES, loaded.model_id, external_data=external_data)
    art = clf.to_dict()
    stamp_graph(graph, art)  # the graph records its classifier: a re-sealed card with another one is refused
    proto = onnx.load(str(graph), load_external_data=False)
    data_files = external_files(proto)
    for name in data_files:
        if Path(name).name != name or not (tmp / name).is_file():
            raise ShortcutError(f"the exported graph refers to weights in {name!r}, which is not a file beside it")
    del proto.graph.node[:]  # the header fields below are all that is kept in memory
    del proto.graph.initializer[:]
    opset = next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), OPSET)
    with loaded.lock:
        loaded.processor.save_pretrained(str(tmp / PROCESSOR_DIR))
    prompt_len = int(np.asarray(feeds["attention_mask"])[0].sum())
    flops = _flop_fields(loaded, prompt_len, exit_layer, label_token_budget(loaded.processor, list(clf.classes_)))
    meta = clf.meta_ or {}
    neurons = []
    for nid in clf.neurons_:
        kind, layer, index = parse_neuron_id(nid)
        neurons.append({"id": nid, "site": site_name(kind, layer), "kind": kind, "layer": layer, "index": index})
    template = loaded.prompt("{text}")
    return {
        "format": CARD_FORMAT, "format_version": CARD_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source_model": {"model_id": loaded.model_id, "family": model_type, "weights_hash": loaded.weights_hash,
                         "config_hash": loaded.config_hash, "n_layers": int(loaded.n_layers_total)},
        "exit_layer": exit_layer, "sites": sorted({n["site"] for n in neurons}), "neurons": neurons,
        "rule": {"name": clf.rule_, "metric": clf.metric, "fallback_label": str(clf.classes_[clf._params().fallback]),
                 "vote": "majority of the neurons, ties to the best-ranked neuron" if len(neurons) > 1 else None},
        "labels": [str(c) for c in clf.classes_],
        "instruction": pred.instruction, "prompt_template": template,
        "prompt_note": "the question and instruction ('{question} {instruction}') fill {text}; the runtime renders "
                       "it with the processor's chat template (one image, then the text; generation prompt appended)",
        "task": meta.get("task"),
        "accuracy": {"probe": [float(s) for s in clf.scores_], "probe_metric": clf.metric,
                     "test": None if test_accuracy is None else float(test_accuracy),
                     "search_key": search_key or (meta.get("meta") or {}).get("search_key")},
        "flops": flops,
        "onnx": {**pin(graph), "external_data": [pin(tmp / n) for n in data_files],
                 "opset": opset, "ir_version": int(proto.ir_version),
                 "inputs": list(names), "outputs": list(OUTPUT_NAMES), "dtype": "float32",
                 "exporter": "torch.onnx.export(dynamo=True)"},
        "inputs": {"family": model_type, "layout": layout, "pixel_budget": _pixel_budget(loaded, model_type),
                   "onevision": layout if model_type == "llava_onevision" else None},
        "versions": _versions(),
        "files": processor_files(tmp),
        "classifier": art,
    }


def external_files(proto) -> list[str]:
    """The files an ONNX model's tensors keep their data in (``external_data`` ``location``), sorted."""
    from onnx.external_data_helper import _get_all_tensors

    names = set()
    for t in _get_all_tensors(proto):
        if t.data_location == 1:  # onnx.TensorProto.EXTERNAL
            names.update(e.value for e in t.external_data if e.key == "location")
    return sorted(names)


def _flop_fields(loaded, prompt_len: int, exit_layer: int, new_tokens: int) -> dict:
    """The card's ``flops``: the analytic FLOP limit of this exit (``sn_core.models.flops``); where the FLOP model
    cannot count this model, the fields are null and ``note`` says why (the export itself does not depend on them)."""
    from sn_core.models.flops import flop_ratio

    note = ("FLOP limit = analytic FLOPs of the full greedy answer / of this exit (sn_core.models.flops), at "
            "prompt_len tokens")
    try:
        limit = flop_ratio(loaded, prompt_len, exit_layer, new_tokens)
        return {"flop_limit": float(limit["ratio"]), "early_exit_flops": float(limit["early_exit_flops"]),
                "full_generation_flops": float(limit["full_flops"]), "prompt_len": int(limit["prompt_len"]),
                "new_tokens": int(limit["new_tokens"]), "note": note}
    except Exception as e:  # noqa: BLE001 - a FLOP model without this family's vision config
        return {"flop_limit": None, "early_exit_flops": None, "full_generation_flops": None,
                "prompt_len": int(prompt_len), "new_tokens": int(new_tokens),
                "note": f"not counted: {type(e).__name__}: {(str(e).splitlines() or [''])[0]}"}


def _pixel_budget(loaded, model_type: str):
    """Qwen-VL: the pixel budget the library pinned on its processor (``min_pixels == max_pixels``), which the
    runtime sets again on the saved processor; None for other families."""
    if model_type not in QWEN:
        return None
    size = loaded.processor.image_processor.size
    edge = size.get("longest_edge") if isinstance(size, dict) else getattr(size, "longest_edge", None)
    return int(edge) if edge else None


def shortcut_zip_bytes(classifier=None, model: str | None = None, loaded=None, folder=None,
                       test_accuracy: float | None = None) -> bytes:
    """The exported shortcut as ZIP bytes (for a download button): of ``folder`` (an exported shortcut, verified
    first), or exported now from ``classifier`` (as :func:`export_shortcut`) into a temporary folder. The ZIP
    holds one top-level folder ``shortcut/``."""
    if folder is None:
        if classifier is None:
            raise ValueError("give a classifier or an exported shortcut folder")
        with tempfile.TemporaryDirectory(prefix="sn-shortcut-") as td:
            path = export_shortcut(classifier, Path(td) / "shortcut", model=model, loaded=loaded,
                                   test_accuracy=test_accuracy)
            return shortcut_zip_bytes(folder=path)
    buf = io.BytesIO()
    write_shortcut_zip(folder, buf)
    return buf.getvalue()


_STORED = (".onnx", ".data")  # weights: DEFLATE gains little on float32 tensors and costs most of the time


def write_shortcut_zip(folder, dest, progress=None) -> int:
    """Write the exported shortcut ``folder`` (verified first) as a ZIP with one top-level folder ``shortcut/``
    to ``dest`` (a path or a binary file object), streaming each file in 1 MiB blocks: nothing is held in memory
    but one block, whatever the size of ``shortcut.onnx.data``. The graph and its weights are stored, the small
    text files deflated. ``progress(done_bytes, total_bytes)`` is called as it goes. Returns the bytes read."""
    folder = Path(folder)
    read_card(folder)
    files = [p for p in sorted(folder.rglob("*")) if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    done = 0
    with zipfile.ZipFile(dest, "w", allowZip64=True) as zf:
        for p in files:
            info = zipfile.ZipInfo.from_file(p, f"shortcut/{p.relative_to(folder).as_posix()}")
            info.compress_type = zipfile.ZIP_STORED if p.suffix in _STORED else zipfile.ZIP_DEFLATED
            with open(p, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                for block in iter(lambda: src.read(1 << 20), b""):
                    dst.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
    return done


__all__ = ["EXPORT_FAMILIES", "OPSET", "ShortcutModule", "RuleModule", "check_family", "export_graph",
           "export_shortcut", "shortcut_zip_bytes", "graph_inputs", "onevision_layout", "write_shortcut_zip", "check_family_early",
           "external_files"]

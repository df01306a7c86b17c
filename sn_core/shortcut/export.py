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
import json
import os
import platform
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from .prep import QWEN
from .card import (CARD_FORMAT, CARD_NAME, CARD_VERSION, GRAPH_NAME, PROCESSOR_DIR, ShortcutError, file_sha256,
                   processor_files, read_card, seal)
# The graph's modules and inputs live in sn_core.shortcut.graph; these names stay importable from here.
from .graph import (EXPORT_FAMILIES, INPUT_NAMES, OPSET, OUTPUT_NAMES, RuleModule, ShortcutModule,  # noqa: F401
                    _example_batch, check_family, export_graph, family_layout, graph_inputs,
                    onevision_layout)


def _versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("sn_core", "torch", "transformers", "onnx", "onnxscript", "onnxruntime", "numpy"):
        if name == "sn_core":
            from .. import __version__

            out[name] = __version__
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# ------------------------------------------------------------------------------------------------ export
def export_shortcut(classifier, out, model: str | None = None, loaded=None, test_accuracy: float | None = None,
                    search_key: str | None = None, root=None) -> Path:
    """Write the standalone shortcut of ``classifier`` (a fitted ``SuperNeuronClassifier`` with neuron ids, or the
    path of its JSON artifact) to the new folder ``out`` and return it.

    The model is the one the artifact names (or ``model``), loaded in float32 up to the exit layer only;
    ``loaded``: an already loaded model (also up to the exit layer only). The folder is written next to ``out``
    under a temporary name and renamed when complete, so a failure leaves nothing at ``out``. ``out`` must not
    exist, or be an empty folder. ``test_accuracy``: the held-out accuracy to write on the card; by default it is
    taken from the search that fitted the classifier when the store (``root``) still has it, else left null."""
    from ..classifier import ArtifactError, SuperNeuronClassifier

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ShortcutError(f"--out {str(out)!r} already exists and is not an empty folder; choose a new folder")
    if not out.parent.is_dir():
        raise ShortcutError(f"--out {str(out)!r}: folder {str(out.parent)!r} does not exist")
    source = None
    if not isinstance(classifier, SuperNeuronClassifier):
        source = Path(classifier)
        classifier = SuperNeuronClassifier.from_json(source)
    clf = classifier
    if clf.neurons is None:
        raise ArtifactError("the classifier has anonymous columns (no neuron ids); export needs a classifier made "
                            "by a search")
    meta = clf.meta_ or {}
    dtype = (meta.get("meta") or {}).get("dtype")
    if dtype not in (None, "float32", "fp32"):
        raise ShortcutError(f"the classifier's thresholds were fitted in {dtype}; shortcuts are exported in float32, "
                            "where its labels could differ near a threshold: fit it in float32 (search --dtype fp32)")
    exit_layer = int(clf.exit_layer_)
    if loaded is None:
        loaded = _load_for_export(clf, model, source, exit_layer)
    check_family(loaded.model.config.model_type, loaded.model_id)
    want = meta.get("weights_hash")
    if want and want != loaded.weights_hash:
        raise ArtifactError(f"the classifier was fitted on weights {want[:12]}..., but model {loaded.model_id!r} "
                            f"has weights {loaded.weights_hash[:12]}...")
    if loaded.dtype != torch.float32:
        raise ShortcutError(f"load the model in float32 to export it (it is {loaded.dtype})")
    from ..early_exit import EarlyExitPredictor

    pred = EarlyExitPredictor(loaded, clf)  # the same checks (neuron ranges, exit layer) as the library path
    if test_accuracy is None:
        test_accuracy, search_key = _search_test_accuracy(clf, search_key, root)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as e:
        raise ShortcutError(f"--out {str(out)!r}: cannot write in {str(out.parent)!r} ({e.strerror or e})") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would stay on the renamed folder
    try:
        card = _write(tmp, loaded, clf, pred, exit_layer, test_accuracy, search_key)
        (tmp / CARD_NAME).write_text(json.dumps(seal(card), indent=1, allow_nan=False), encoding="utf-8")
        read_card(tmp)  # what was written verifies
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _search_test_accuracy(clf, search_key, root):
    """(held-out test accuracy, search key) from the search that fitted ``clf``, when the store still has it."""
    key = search_key or ((clf.meta_ or {}).get("meta") or {}).get("search_key")
    if not key:
        return None, None
    try:
        from ..search import SearchResult

        res = SearchResult.load(key, root=root)
        if res.classifier(list(clf.neurons_)).meta_.get("weights_hash") != (clf.meta_ or {}).get("weights_hash"):
            return None, key
        return float(res.test_accuracy(list(clf.neurons_))), key
    except Exception:  # noqa: BLE001 - no store, an older format: the card then says test accuracy unknown
        return None, key


def _load_for_export(clf, model, source, exit_layer):
    from ..classifier import ArtifactError
    from ..models import UnknownModelError, load_model

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


def _write(tmp: Path, loaded, clf, pred, exit_layer: int, test_accuracy, search_key) -> dict:
    import onnx

    from ..baselines import label_token_budget
    from ..sites import parse_neuron_id, site_name

    model_type = loaded.model.config.model_type
    layout = family_layout(loaded.model.config)
    module = ShortcutModule(loaded, clf).eval()
    batch = _example_batch(loaded, lambda q: f"{q} {pred.instruction}".strip() if pred.instruction else q)
    feeds = graph_inputs(model_type, batch, layout)
    names = INPUT_NAMES[model_type]
    graph = tmp / GRAPH_NAME
    export_graph(module, feeds, model_type, graph, OUTPUT_NAMES, loaded.model_id)
    proto = onnx.load(str(graph), load_external_data=False)
    opset = next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), OPSET)
    with loaded.lock:
        loaded.processor.save_pretrained(str(tmp / PROCESSOR_DIR))
    prompt_len = int(np.asarray(feeds["attention_mask"])[0].sum())
    flops = _flop_fields(loaded, prompt_len, exit_layer, label_token_budget(loaded.processor, list(clf.classes_)))
    art = clf.to_dict()
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
        "onnx": {"file": GRAPH_NAME, "sha256": file_sha256(graph), "opset": opset, "ir_version": int(proto.ir_version),
                 "inputs": list(names), "outputs": list(OUTPUT_NAMES), "dtype": "float32",
                 "exporter": "torch.onnx.export(dynamo=True)"},
        "inputs": {"family": model_type, "layout": layout, "pixel_budget": _pixel_budget(loaded, model_type),
                   "onevision": layout if model_type == "llava_onevision" else None},
        "versions": _versions(),
        "files": processor_files(tmp),
        "classifier": art,
    }


def _flop_fields(loaded, prompt_len: int, exit_layer: int, new_tokens: int) -> dict:
    """The card's ``flops``: the analytic FLOP limit of this exit (``sn_core.flops``); where the FLOP model cannot
    count this model, the fields are null and ``note`` says why (the export itself does not depend on them)."""
    from ..flops import flop_ratio

    note = ("FLOP limit = analytic FLOPs of the full greedy answer / of this exit (sn_core.flops), at prompt_len "
            "tokens")
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
    folder = Path(folder)
    read_card(folder)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, f"shortcut/{p.relative_to(folder).as_posix()}")
    return buf.getvalue()


__all__ = ["EXPORT_FAMILIES", "OPSET", "ShortcutModule", "RuleModule", "check_family", "export_graph", "export_shortcut",
           "shortcut_zip_bytes", "graph_inputs", "onevision_layout"]

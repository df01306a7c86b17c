"""Export a Super Neuron classifier as a standalone shortcut: one ONNX graph + processor files + a card.

The graph (``torch.onnx.export(dynamo=True)``) holds, for a model loaded only up to the exit layer:

- the vision tower and projector (SigLIP with the last layer as feature layer: the same computation as
  ``sn_core.models.llava._siglip_image_features``; LLaVA with another tower: ``get_image_features``);
- the token embeddings with the image features written into the image-token positions, in order (the
  ``masked_scatter`` of transformers, written as a cumulative-sum gather so that it exports);
- the language model's own forward (``language_model(inputs_embeds, attention_mask, position_ids)``) over
  decoder layers ``0..L``: its causal mask with the left-padding attention mask, rotary embeddings from
  ``position_ids = cumsum(attention_mask) - 1`` (as ``ModelAdapter.forward_inputs``), computed inside the graph;
- the read-out of each neuron at the last prompt position (column -1 of the left-padded batch) from the same
  module inputs / outputs the library hooks (``ModelAdapter.site_module``);
- the classifier's rule in float64 (stump, nearest class mean or one-vs-rest stumps, with the majority vote of
  several neurons and the non-finite fallback of ``sn_core.scoring``) -> class index.

Inputs: ``input_ids [batch, pos] int64``, ``attention_mask [batch, pos] int64``, ``pixel_values`` (LLaVA:
``[batch, 3, H, W]``; LLaVA-OneVision: the images' tiles ``[tiles, 3, H, W]``) and, for LLaVA-OneVision,
``feature_index [image_tokens] int64`` (which projected tile row, or the image-newline row, fills each image token:
the anyres unpadding of ``pack_image_features``, computed by ``sn_core.shortcut.runtime`` from the image sizes).
Outputs: ``label_index [batch] int64`` and ``values [batch, k] float32``. Batch and prompt length are dynamic.

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

from .card import (CARD_FORMAT, CARD_NAME, CARD_VERSION, GRAPH_NAME, PROCESSOR_DIR, ShortcutError, file_sha256,
                   processor_files, read_card, seal)

EXPORT_FAMILIES = ("llava", "llava_onevision")
OPSET = 18
INPUT_NAMES = {"llava": ("input_ids", "attention_mask", "pixel_values"),
               "llava_onevision": ("input_ids", "attention_mask", "pixel_values", "feature_index")}
OUTPUT_NAMES = ("label_index", "values")


def check_family(model_type: str, model_id: str = "") -> None:
    if model_type not in EXPORT_FAMILIES:
        raise ShortcutError(f"shortcut export supports the LLaVA family ({', '.join(EXPORT_FAMILIES)}); model "
                            f"{model_id!r} is family {model_type!r}, which is not exported (docs/families.md)")


class RuleModule(torch.nn.Module):
    """The classifier's vote on ``values [batch, k]`` in float64, as ``SuperNeuronClassifier._vote``."""

    def __init__(self, clf):
        super().__init__()
        p = clf._params()
        self.rule = p.rule
        self.n_classes = int(p.n_classes)
        self.fallback = int(p.fallback)
        self.order = [int(c) for c in p.class_order]
        f64 = torch.float64
        if p.rule == "stump":
            self.register_buffer("threshold", torch.tensor(np.asarray(p.threshold, np.float64), dtype=f64))
            self.register_buffer("positive", torch.tensor(np.asarray(p.polarity) > 0))
        elif p.rule == "nearest_mean":
            self.register_buffer("means", torch.tensor(np.asarray(p.class_means, np.float64), dtype=f64))  # [C, k]
        elif p.rule == "ovr_stump":
            self.register_buffer("ovr_t", torch.tensor(np.asarray(p.ovr_threshold, np.float64), dtype=f64))
            self.register_buffer("ovr_p", torch.tensor(np.asarray(p.ovr_polarity, np.float64), dtype=f64))
        else:
            raise ShortcutError(f"rule {p.rule!r} cannot be exported")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [batch, k] float64 -> [batch] int64
        fin = torch.isfinite(x)
        fallback = torch.full_like(x, self.fallback, dtype=torch.int64)
        if self.rule == "stump":
            votes = ((x > self.threshold[None, :]) == self.positive[None, :]).to(torch.int64)
        else:
            best = torch.full_like(x, float("inf"))
            votes = fallback
            for c in self.order:  # strict '<': an earlier class (more frequent on the probe split) keeps a tie
                if self.rule == "nearest_mean":
                    cost = torch.abs(x - self.means[c][None, :])
                else:
                    cost = (self.ovr_t[c][None, :] - x) * self.ovr_p[c][None, :]
                better = cost < best  # a NaN cost never wins
                best = torch.where(better, cost, best)
                votes = torch.where(better, torch.full_like(votes, c), votes)
        votes = torch.where(fin, votes, fallback)  # [batch, k]
        if votes.shape[1] == 1:
            return votes[:, 0]
        counts = torch.nn.functional.one_hot(votes, self.n_classes).sum(dim=1)  # [batch, C]
        top = counts == counts.max(dim=1, keepdim=True).values  # [batch, C]
        voted_top = torch.gather(top, 1, votes).to(torch.int64)  # [batch, k]
        first = torch.argmax(voted_top, dim=1, keepdim=True)  # earliest column voting a tied-best class
        return torch.gather(votes, 1, first)[:, 0]


class ShortcutModule(torch.nn.Module):
    """Vision tower + projector + embeddings + decoder layers ``0..L`` + read-out + rule, as one module."""

    def __init__(self, loaded, clf):
        super().__init__()
        from ..sites import parse_neuron_id

        self.model_type = loaded.model.config.model_type
        check_family(self.model_type, loaded.model_id)
        self.net = loaded.model
        self.adapter = loaded.adapter
        self.neurons = [parse_neuron_id(n) for n in clf.neurons_]
        self.exit_layer = max(layer for _, layer, _ in self.neurons)
        if len(self.adapter.layers(self.net)) != self.exit_layer + 1:
            raise ShortcutError(f"the model must be loaded up to the exit layer {self.exit_layer} exactly "
                                f"(max_layers={self.exit_layer + 1}); it has {len(self.adapter.layers(self.net))}")
        self.rule = RuleModule(clf)
        core = self.net.model
        self.image_token_id = int(self.net.config.image_token_index)
        self.siglip = _siglip_ok(core)
        if self.model_type == "llava_onevision" and not self.siglip:
            raise ShortcutError("LLaVA-OneVision export needs a SigLIP tower whose last layer is the feature layer; "
                                f"this model's tower is {type(core.vision_tower).__name__} with feature layer "
                                f"{core.config.vision_feature_layer!r}")

    def _image_rows(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Projected image features, one row per image token (LLaVA) or per tile token (OneVision)."""
        from ..models.llava import _siglip_image_features

        core = self.net.model
        if self.siglip:
            return _siglip_image_features(core, pixel_values)
        return torch.cat(core.get_image_features(pixel_values=pixel_values, return_dict=True).pooler_output, dim=0)

    def embed(self, input_ids, attention_mask, pixel_values, feature_index=None):
        """``(inputs_embeds [batch, pos, d_model], position_ids [batch, pos])``: image features in place."""
        core = self.net.model
        lm = core.language_model
        embeds = lm.embed_tokens(input_ids)  # [batch, pos, d_model]
        rows = self._image_rows(pixel_values).to(embeds.dtype)  # [rows, d_model]
        if feature_index is not None:  # OneVision: unpadded tiles + image-newline rows, in token order
            rows = torch.cat([rows, core.image_newline[None, :].to(embeds.dtype)], dim=0)[feature_index]
        is_img = input_ids == self.image_token_id  # [batch, pos]
        order = (torch.cumsum(is_img.reshape(-1).to(torch.int64), 0) - 1).clamp(min=0)  # [batch*pos]
        gathered = rows[order].reshape(embeds.shape)  # the n-th image token takes row n (masked_scatter's order)
        embeds = torch.where(is_img.unsqueeze(-1), gathered, embeds)
        position_ids = (attention_mask.to(torch.int64).cumsum(-1) - 1).clamp(min=0)  # [batch, pos]
        return embeds, position_ids

    def forward(self, input_ids, attention_mask, pixel_values, feature_index=None):
        lm = self.net.model.language_model
        embeds, position_ids = self.embed(input_ids, attention_mask, pixel_values, feature_index)
        captured = {}
        handles = []
        for kind, layer, _ in self.neurons:
            module, side = self.adapter.site_module(self.net, kind, layer)
            key = (kind, layer)
            if side == "input":
                handles.append(module.register_forward_pre_hook(
                    lambda m, args, key=key: captured.__setitem__(key, args[0][:, -1])))
            else:
                handles.append(module.register_forward_hook(
                    lambda m, args, out, key=key: captured.__setitem__(
                        key, (out[0] if isinstance(out, (tuple, list)) else out)[:, -1])))
        try:
            lm(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids, use_cache=False)
        finally:
            for h in handles:
                h.remove()
        values = torch.stack([captured[(kind, layer)][:, index] for kind, layer, index in self.neurons], dim=1)
        values = values.to(torch.float32)  # [batch, k]
        return self.rule(values.to(torch.float64)), values


def _siglip_ok(core) -> bool:
    cfg, tower = core.config, core.vision_tower
    layer = cfg.vision_feature_layer
    return (type(tower).__name__ == "SiglipVisionModel" and isinstance(layer, int)
            and layer in (-1, len(tower.encoder.layers)) and not getattr(tower.config, "tie_last_hidden_states", False))


# ------------------------------------------------------------------------------------------------ inputs
def onevision_layout(config) -> dict:
    """What the runtime needs to cut LLaVA-OneVision images into tiles and unpad their features."""
    vc = config.vision_config
    return {"image_grid_pinpoints": [list(map(int, p)) for p in config.image_grid_pinpoints],
            "tile_size": int(vc.image_size), "patch_size": int(vc.patch_size),
            "vision_feature_select_strategy": str(config.vision_feature_select_strategy),
            "vision_aspect_ratio": str(getattr(config, "vision_aspect_ratio", "anyres_max_9"))}


def graph_inputs(model_type: str, batch: dict, layout: dict | None) -> dict:
    """Numpy graph inputs from a processor batch (``return_tensors="np"`` or torch tensors)."""
    def arr(v):
        return v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)

    out = {"input_ids": arr(batch["input_ids"]).astype(np.int64),
           "attention_mask": arr(batch["attention_mask"]).astype(np.int64)}
    pv = arr(batch["pixel_values"]).astype(np.float32)
    if model_type == "llava_onevision":
        from .runtime import onevision_tiles

        out["pixel_values"], out["feature_index"] = onevision_tiles(pv, arr(batch["image_sizes"]), layout)
    else:
        out["pixel_values"] = pv
    return out


def _example_batch(loaded, prompt_fn):
    """Two left-padded rows of different prompt lengths (so no shape is fixed to 1 or to one length)."""
    from PIL import Image

    images = [Image.new("RGB", (48, 48), (200, 30, 30)), Image.new("RGB", (40, 56), (30, 30, 200))]
    prompts = [loaded.prompt(prompt_fn("What colour is the shape?")),
               loaded.prompt(prompt_fn("Is there a large blue circle on the left side of the picture?"))]
    with loaded.lock:
        return loaded.adapter.encode(loaded.processor, images, prompts)


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
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
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
    from ..flops import flop_ratio
    from ..sites import parse_neuron_id, site_name

    model_type = loaded.model.config.model_type
    layout = onevision_layout(loaded.model.config) if model_type == "llava_onevision" else None
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
    limit = flop_ratio(loaded, prompt_len, exit_layer, label_token_budget(loaded.processor, list(clf.classes_)))
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
        "flops": {"flop_limit": float(limit["ratio"]), "early_exit_flops": float(limit["early_exit_flops"]),
                  "full_generation_flops": float(limit["full_flops"]), "prompt_len": int(limit["prompt_len"]),
                  "new_tokens": int(limit["new_tokens"]),
                  "note": "FLOP limit = analytic FLOPs of the full greedy answer / of this exit (sn_core.flops), at "
                          "prompt_len tokens"},
        "onnx": {"file": GRAPH_NAME, "sha256": file_sha256(graph), "opset": opset, "ir_version": int(proto.ir_version),
                 "inputs": list(names), "outputs": list(OUTPUT_NAMES), "dtype": "float32",
                 "exporter": "torch.onnx.export(dynamo=True)"},
        "inputs": {"family": model_type, "onevision": layout},
        "versions": _versions(),
        "files": processor_files(tmp),
        "classifier": art,
    }


def export_graph(module, feeds: dict, model_type: str, path: Path, output_names, model_id: str = "") -> None:
    """``torch.onnx.export(dynamo=True)`` of ``module`` on example ``feeds`` (numpy, ``graph_inputs``) with a
    dynamic batch, prompt length and (OneVision) tile / image-token counts; ShortcutError (one line) on failure."""
    names = INPUT_NAMES[model_type]
    args = tuple(torch.from_numpy(feeds[n]) for n in names)
    Dim = torch.export.Dim
    bsz, seq = Dim("batch", min=1, max=4096), Dim("pos", min=2, max=1 << 16)
    dyn = {"input_ids": {0: bsz, 1: seq}, "attention_mask": {0: bsz, 1: seq}}
    if model_type == "llava_onevision":
        dyn["pixel_values"] = {0: Dim("tiles", min=1, max=1 << 16)}
        dyn["feature_index"] = {0: Dim("image_tokens", min=2, max=1 << 20)}
    else:
        dyn["pixel_values"] = {0: bsz}
    try:
        with torch.inference_mode(False), torch.no_grad(), _quiet():
            torch.onnx.export(module, args, str(path), dynamo=True, input_names=list(names),
                              output_names=list(output_names), dynamic_shapes={n: dyn[n] for n in names},
                              opset_version=OPSET, external_data=False, verbose=False)
    except Exception as e:  # the exporter's messages run to pages: keep the first line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ShortcutError(f"ONNX export of model {model_id!r} ({model_type}) failed: {first}") from None


class _quiet:
    """Silence the exporter's progress prints and warnings (stdout must stay clean for ``--json``)."""

    def __enter__(self):
        import contextlib
        import logging
        import warnings

        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        self._stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        log = logging.getLogger("torch")
        old = log.level
        log.setLevel(logging.ERROR)
        self._stack.callback(log.setLevel, old)
        return self

    def __exit__(self, *exc):
        self._stack.close()
        return False


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

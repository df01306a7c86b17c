"""Float16 shortcuts: an exported float32 shortcut's graph converted to float16 weights and arithmetic.

``float16_shortcut(src, out)`` reads a verified float32 shortcut (``read_card``), converts its graph with
onnxruntime's own converter (``onnxruntime.transformers.float16.convert_float_to_float16``, ``keep_io_types``: the
inputs and the ``values`` output stay float32; ops onnxruntime runs in float32 only, such as ``Range`` and
``CumSum``, stay float32 behind casts) and writes a new folder: the float16 graph (external data when the source
had it, about half its bytes), the same processor files, and a new card pinning the new files.

The rule is not converted: the graph casts the neuron values to float64 before it (``ShortcutModule``), so the
float16 graph applies the float32 fit's thresholds / class means to its float16 values, and the label it returns is
always the card's classifier applied to the ``values`` it returns. What changes is the values themselves (float16
arithmetic through layers ``0..L``). The card's ``float16`` record says by how much, measured by running the
source and the converted graph side by side: on the probe examples of the classifier's task when the library can
read them, else on a fixed set of generated images (``examples``: which). The export is refused when a value is not
finite in float16.

Float16 graphs are meant for onnxruntime on a GPU (``load_shortcut(folder, providers=["CUDAExecutionProvider"])``
with the onnxruntime-gpu wheel); onnxruntime's CPU provider runs them too, at about the float32 graph's speed.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

from sn_core.shortcut.card import GRAPH_NAME, PROCESSOR_DIR, ShortcutError, pin, read_card, write_card
from sn_core.shortcut.folders import check_out, written_into

DATA_NAME = GRAPH_NAME + ".data"
MAX_EXAMPLES = 64  # probe examples run through both graphs for the card's record


def _converter():
    """onnxruntime's float16 converter. Importing ``onnxruntime.transformers`` appends its folder to ``sys.path``
    (for its own scripts); the path is restored so that its module names cannot shadow others."""
    saved = list(sys.path)
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as e:
        raise ShortcutError(f"onnxruntime's float16 converter cannot be imported ({e}); install onnxruntime "
                            "(see requirements.txt)") from None
    finally:
        sys.path[:] = saved
    return convert_float_to_float16


def convert_graph(src: Path, dest: Path, external_data: bool) -> None:
    """Write the float16 conversion of the ONNX graph ``src`` (external data beside it is read) to ``dest``, with
    its weights in ``dest``'s folder as ``shortcut.onnx.data`` when ``external_data``."""
    import logging

    import onnx

    from onnx.external_data_helper import load_external_data_for_model

    convert = _converter()
    log = logging.getLogger("onnxruntime.transformers.float16")
    level = log.level
    log.setLevel(logging.ERROR)  # its per-node notes on kept float32 ops
    inferred = dest.with_name(f".{dest.name}.inferred")
    try:
        # shape inference on the file (works above 2 GB; the weights stay where they are), written beside dest
        # rather than beside src (the converter's own path mode writes a temporary file into the source folder)
        onnx.shape_inference.infer_shapes_path(str(src), str(inferred))
        model = onnx.load(str(inferred), load_external_data=False)
        load_external_data_for_model(model, str(src.parent))
        model = convert(model, keep_io_types=True, disable_shape_infer=True)
    except Exception as e:  # noqa: BLE001 - the converter raises assorted types
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ShortcutError(f"float16 conversion of {str(src)!r} failed: {first}") from None
    finally:
        log.setLevel(level)
        inferred.unlink(missing_ok=True)
    if external_data:
        onnx.save_model(model, str(dest), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=DATA_NAME, size_threshold=1024)
    else:
        onnx.save_model(model, str(dest))


def _measure_examples(card: dict, processor, root=None):
    """``(images, questions, labels or None, what)``: the probe examples of the card's classifier (at most
    ``MAX_EXAMPLES``, evenly spaced) when its task can be read, else 12 generated images of several sizes, small
    next to ``processor``'s tile (as the export's example batch: ``sn_core.shortcut.graph``)."""
    from sn_core.classifier.estimator import SuperNeuronClassifier

    try:
        from sn_core.shortcut.refit import split_examples

        clf = SuperNeuronClassifier.from_dict(card["classifier"])
        if (clf.meta_ or {}).get("task"):
            exs, _ = split_examples(clf, root, "probe")
            exs = exs[:: max(1, -(-len(exs) // MAX_EXAMPLES))]
            if exs:  # images as PIL images or paths: the runtime opens them (as_rgb)
                return ([e.image for e in exs], [e.question for e in exs], [str(e.label) for e in exs],
                        f"probe examples of task {clf.meta_['task']!r}")
    except Exception:  # noqa: BLE001 - a task this machine cannot read: the generated images below
        pass
    from PIL import Image

    from sn_core.shortcut.prep import tile_px

    rng = np.random.default_rng(0)
    f = min(1.0, tile_px(processor) / 48)
    sizes = [(max(8, round(h * f)), max(8, round(w * f))) for h, w in [(16, 16), (20, 36), (40, 24), (32, 32),
                                                                        (17, 29), (48, 40)]]
    images = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in sizes]
    images += [Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 255, 3))) for h, w in sizes]
    questions = ["What colour is the shape?", "Is there a dog in the picture?", "How many shapes are there?"]
    return images, [questions[i % 3] for i in range(len(images))], None, "12 generated images (noise and plain colours)"


def _record(p32, p16, labels, what: str) -> dict:
    """The measured differences of two runs over the same (one or more) examples."""
    v32, v16 = np.asarray(p32.values, np.float64), np.asarray(p16.values, np.float64)
    scale = np.maximum(np.abs(v32).max(axis=0), 1e-12)  # per neuron: its largest float32 |value| in the set
    same = np.array(p16.labels) == np.array(p32.labels)
    rec = {"examples": int(len(v32)), "source": what, "label_agreement": float(np.mean(same)),
           "labels_changed": int(np.sum(~same)),
           "max_abs_value_diff": [float(x) for x in np.abs(v16 - v32).max(axis=0)],
           "max_rel_value_diff": [float(x) for x in (np.abs(v16 - v32) / scale).max(axis=0)],
           "probe_accuracy": None}
    if labels is not None:
        y = np.array(labels)
        rec["probe_accuracy"] = {"float32": float(np.mean(np.array(p32.labels) == y)),
                                 "float16": float(np.mean(np.array(p16.labels) == y))}
    return rec


def _measure(src: Path, tmp: Path, card: dict, root, threads) -> dict:
    """The card's ``float16`` record: the source and the converted graph side by side on the same examples."""
    from sn_core.shortcut.runtime import load_shortcut

    import gc

    sc32 = load_shortcut(src, threads=threads)
    images, questions, labels, what = _measure_examples(card, sc32.processor, root)
    p32 = sc32.predict(images, questions, batch_size=8)
    del sc32  # one onnxruntime session at a time: at 7B width each maps GBs of weights
    gc.collect()
    p16 = load_shortcut(tmp, threads=threads).predict(images, questions, batch_size=8)
    bad = ~np.isfinite(p16.values).all(axis=1)
    if bad.any():
        raise ShortcutError(f"the float16 graph gives a value that is not finite in float16 on {int(bad.sum())} "
                            f"of {len(bad)} examples ({what}); use the float32 shortcut")
    return _record(p32, p16, labels, what)


def float16_shortcut(src, out, root=None, threads: int | None = None) -> Path:
    """Write the float16 version of the float32 shortcut in ``src`` to the new folder ``out`` and return it (see the
    module docstring). ``root``: the store holding the classifier's search (its probe split settings)."""
    src = Path(src)
    card = read_card(src)
    if card["onnx"].get("dtype") != "float32":
        raise ShortcutError(f"{str(src)!r} holds a {card['onnx'].get('dtype')} graph; float16 conversion starts "
                            "from a float32 shortcut")
    out = check_out(Path(out))
    with written_into(out) as tmp:
        shutil.copytree(src / PROCESSOR_DIR, tmp / PROCESSOR_DIR)
        graph = tmp / GRAPH_NAME
        convert_graph(src / card["onnx"]["file"], graph, external_data=bool(card["onnx"].get("external_data")))
        new = dict(card)
        data = [pin(tmp / DATA_NAME)] if (tmp / DATA_NAME).is_file() else []
        new["onnx"] = dict(card["onnx"], **pin(graph), external_data=data, dtype="float16", float32_sha256=card["onnx"]["sha256"],
                           converter="onnxruntime.transformers.float16.convert_float_to_float16(keep_io_types=True)")
        new["float16"] = None  # measured below, once the converted graph loads
        write_card(tmp, new)
        new["float16"] = _measure(src, tmp, card, root, threads)
        write_card(tmp, new)
        read_card(tmp)
    return out


__all__ = ["convert_graph", "float16_shortcut"]

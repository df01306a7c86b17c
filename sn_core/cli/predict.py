"""CLI ``predict``: answer one image (``--image``) or evaluate a task (``--task``) with a saved classifier (library
early exit) or an exported shortcut (onnxruntime)."""
from __future__ import annotations

import json
import sys
import time

from sn_core.cli.common import CliError, _fmt


def add_predict_parser(sub) -> None:
    """Register ``predict`` on the CLI's subparsers."""
    r = sub.add_parser("predict", help="answer one image (--image) or evaluate a task (--task) with a saved "
                       "classifier (library early exit) or an exported shortcut (onnxruntime)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--classifier", help="classifier JSON written by search --save-classifier")
    src.add_argument("--shortcut", help="shortcut folder written by export")
    r.add_argument("--image", default=None, help="one image to answer (with --question)")
    r.add_argument("--question", default=None, help="the question (--image; or asked of an image-folder --task)")
    r.add_argument("--task", default=None, help="evaluate on a bundled task name or a benchmark / dataset "
                   "(FORMAT:PATH[:SUBSET][;images=DIR], docs/datasets.md; their test split by default), a "
                   ".jsonl/.csv manifest or an image folder (with --question)")
    r.add_argument("--split", choices=("test", "all"), default=None,
                   help="--task examples: the search's test split (default for bundled tasks) or all (default for "
                   "manifests and folders)")
    r.add_argument("--n-examples", type=int, default=None, help="bundled --task: examples of its eval part "
                   "(default: the classifier's search, else 400)")
    r.add_argument("--data-seed", type=int, default=None, help="bundled --task generator seed (default as above)")
    r.add_argument("--seed", type=int, default=None, help="split seed (default: the classifier's search, else 0)")
    r.add_argument("--probe-per-class", type=int, default=None, help="split probe size (default as above)")
    r.add_argument("--test-per-class", type=int, default=None, help="split test size (default as above)")
    r.add_argument("--batch-size", type=int, default=16)
    r.add_argument("--cache-dir", default=None, help="store root holding the classifier's search (split settings)")
    r.add_argument("--model", default=None, help="override the model the artifact names (--classifier)")
    r.add_argument("--device", default="cpu", help="cpu or cuda (--shortcut: onnxruntime's CPU or CUDA provider, "
                   "which needs the onnxruntime-gpu wheel)")
    r.add_argument("--dtype", default=None, help="--classifier: the model's dtype (a shortcut's is fixed at export, "
                   "export --float16)")
    r.add_argument("--json", action="store_true")


def cmd_predict(a) -> int:
    if a.task is not None:
        if not a.task.strip():
            raise CliError("--task is empty; give a bundled task name, a JSONL/CSV manifest or an image folder")
        if a.image is not None:
            raise CliError("give either --image (one image) or --task (many examples), not both")
        return cmd_predict_task(a)
    if a.image is None or a.question is None:
        raise CliError("predict needs --image and --question (one image) or --task (many examples)")
    if a.shortcut:
        return cmd_predict_shortcut_image(a)
    from sn_core.shortcut.early_exit import load_predictor
    from sn_core.data.images import load_image

    image = load_image(a.image)
    t0 = time.perf_counter()
    pred = load_predictor(a.classifier, model=a.model, device=a.device, dtype=a.dtype)
    load_s = time.perf_counter() - t0
    first = pred.predict(image, a.question)  # the first call also pays one-time lazy initialisation
    p = pred.predict(image, a.question)  # the warm latency a served model would see
    if p.label != first.label:  # pragma: no cover - deterministic forward
        raise RuntimeError("two identical early-exit predictions disagree")
    if a.json:
        sys.stdout.write(json.dumps({"label": p.label, "seconds": p.seconds, "first_call_seconds": first.seconds,
                                     "exit_layer": p.exit_layer, "values": p.values,
                                     "model_id": pred.loaded.model_id, "model_load_seconds": load_s}) + "\n")
    else:
        print(f"{p.label}")
        print(f"time {1000 * p.seconds:.1f} ms (early exit after layer {p.exit_layer} of "
              f"{pred.loaded.n_layers_total}; first call {1000 * first.seconds:.1f} ms; model load {load_s:.1f} s)")
    return 0


def _shortcut_settings(a, meta: dict) -> dict:
    from sn_core.shortcut.evaluate import search_settings

    settings = search_settings(meta, root=a.cache_dir)
    for k in ("n_examples", "data_seed", "seed", "probe_per_class", "test_per_class"):
        v = getattr(a, k)
        if v is not None:
            if v < (0 if k in ("data_seed", "seed") else 1):
                raise CliError(f"--{k.replace('_', '-')} must be {'non-negative' if 'seed' in k else 'positive'}, "
                               f"got {v}")
            settings[k] = v
    return settings


def cmd_predict_task(a) -> int:
    """``predict --task``: accuracy, per-class counts and one prediction per example (sn_core.shortcut.evaluate)."""
    import numpy as np

    from sn_core.shortcut.evaluate import report, select_examples

    if a.batch_size < 1:
        raise CliError(f"--batch-size must be at least 1, got {a.batch_size}")
    t0 = time.perf_counter()
    if a.shortcut:
        sc = _open_shortcut(a)
        meta, labels, neurons, exit_layer = sc.card["classifier"], sc.labels, sc.neurons, sc.exit_layer
        who = {"shortcut": a.shortcut, "model_id": sc.card["source_model"]["model_id"]}
    else:
        from sn_core.shortcut.early_exit import load_predictor

        pred = load_predictor(a.classifier, model=a.model, device=a.device, dtype=a.dtype)
        meta, labels = pred.clf.meta_, [str(c) for c in pred.clf.classes_]
        neurons, exit_layer = list(pred.clf.neurons_), pred.exit_layer
        who = {"classifier": a.classifier, "model_id": pred.loaded.model_id}
    sel = select_examples(a.task, a.question, _shortcut_settings(a, meta), a.split)
    task, idx = sel.task, sel.indices
    from sn_core.special_tokens import check_task_text  # <image> in a question: named by file, row and field

    check_task_text(sc.processor if a.shortcut else pred.loaded.processor, who["model_id"], task)
    truth = sorted({str(task.examples[int(i)].label) for i in idx})
    if not set(truth) & set(labels):
        raise CliError(f"none of the task's labels ({', '.join(truth)}) is a label of the "
                       f"{'shortcut' if a.shortcut else 'classifier'} ({', '.join(labels)}): it cannot be evaluated "
                       "on this task")
    from sn_core.data.images import load_image
    from PIL import Image

    images = [ex.image if isinstance(ex.image, Image.Image) else load_image(ex.image)
              for ex in (task.examples[int(i)] for i in idx)]
    questions = [task.examples[int(i)].question for i in idx]
    t1 = time.perf_counter()
    if a.shortcut:
        out = sc.predict(images, questions, batch_size=a.batch_size)
        predicted, values = out.labels, out.values
    else:
        res = pred.predict_batch(images, questions, batch_size=a.batch_size)
        predicted = [p.label for p in res]
        values = np.array([[p.values[n] for n in neurons] for p in res], dtype=np.float64).reshape(len(res), -1)
    t2 = time.perf_counter()
    rep = report(task, idx, predicted, values, neurons, set(labels))
    doc = {**who, "exit_layer": exit_layer, "neurons": neurons, "labels": labels, "examples": sel.info,
           "accuracy": rep["accuracy"], "n": rep["n"], "correct": rep["correct"], "per_class": rep["per_class"],
           "labels_outside": rep["labels_outside"], "seconds": t2 - t0, "predict_seconds": t2 - t1,
           "predictions": rep["predictions"]}
    if a.json:
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        print(f"{'shortcut ' + a.shortcut if a.shortcut else 'classifier ' + a.classifier} on {task.name} "
              f"({sel.info['split']}: {rep['n']} examples): accuracy {_fmt(rep['accuracy'])} "
              f"({rep['correct']}/{rep['n']})")
        for lbl, c in rep["per_class"].items():
            print(f"  {lbl:12s} {c['correct']:>5}/{c['n']:<5} correct, predicted {c['predicted']} times")
    return 0


def _open_shortcut(a):
    """``load_shortcut(--shortcut)`` on the provider ``--device`` names; ``--dtype`` is refused with a shortcut."""
    from sn_core.shortcut import load_shortcut
    from sn_core.shortcut.runtime import DEVICE_PROVIDERS

    if a.dtype is not None:
        raise CliError("--dtype applies to --classifier; a shortcut's graph keeps the dtype it was exported in "
                       "(export --float16 writes a float16 graph)")
    device, _, index = (a.device or "cpu").lower().partition(":")
    if device not in DEVICE_PROVIDERS or (index and not (device == "cuda" and index.isdigit())):
        raise CliError(f"--device {a.device!r}: a shortcut runs on cpu, cuda or cuda:N")
    providers = list(DEVICE_PROVIDERS[device])
    if index:
        providers[0] = (providers[0], {"device_id": int(index)})
    return load_shortcut(a.shortcut, providers=providers)


def cmd_predict_shortcut_image(a) -> int:
    from sn_core.data.images import load_image

    image = load_image(a.image)
    t0 = time.perf_counter()
    sc = _open_shortcut(a)
    load_s = time.perf_counter() - t0
    sc.predict([image], [a.question])  # the first call also pays one-time initialisation
    t1 = time.perf_counter()
    out = sc.predict([image], [a.question])
    dt = time.perf_counter() - t1
    if a.json:
        sys.stdout.write(json.dumps({"label": out.labels[0], "seconds": dt, "exit_layer": sc.exit_layer,
                                     "values": dict(zip(sc.neurons, map(float, out.values[0]))),
                                     "model_id": sc.card["source_model"]["model_id"], "shortcut": a.shortcut,
                                     "load_seconds": load_s}) + "\n")
    else:
        print(out.labels[0])
        print(f"time {1000 * dt:.1f} ms (shortcut, exit after layer {sc.exit_layer}; load {load_s:.1f} s)")
    return 0

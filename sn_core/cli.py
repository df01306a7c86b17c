"""Command line: ``python -m sn_core search ...`` and ``python -m sn_core predict ...``.

``export`` writes a standalone shortcut (one ONNX graph, processor files, a card; docs/shortcut.md); ``predict
--task`` evaluates a classifier or a shortcut on many examples. ``search`` runs extraction + search + baselines and prints a readable summary (progress bars on stderr); with
``--json`` it prints exactly one JSON object on stdout. ``predict`` answers one image with a saved classifier by
early exit and prints the label and the time taken. ``robustness`` and ``probe-curve`` (``sn_core/cli_reports.py``)
take the options of ``search`` and report on its (cached) result. Errors print one line ``error: ...`` on stderr
and exit 2.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

EXIT_USAGE = 2
MAX_LAYER_SPAN = 10_000
JSON_FIELDS = ("model_id", "task", "n_probe", "n_test", "n_classes", "chance", "base_accuracy", "sn_test_accuracy",
               "sn_probe_accuracy", "sn_probe_score", "sn_neuron_id", "sn_layer", "sn_neuron", "sn_site",
               "sn_neuron_ids", "exit_layer", "null_probe_accuracy", "sav_test_accuracy", "probe_lr_test_accuracy",
               "probe_lr_layer", "rule", "metric", "k", "seed", "sites", "layers", "n_neurons_searched",
               "weights_hash", "cache_hit", "extraction_cache_hit", "seconds",
               "shortcut_neuron_id", "shortcut_layer", "shortcut_probe_accuracy", "shortcut_test_accuracy",
               "shortcut_flop_limit", "sn_flop_limit", "sn_test_ci", "base_ci", "p_sn_vs_base", "p_sn_vs_sav")


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line instead of usage + traceback-like noise
        raise CliError(f"{self.prog}: {message} (see --help)")


def parse_layers(text: str) -> tuple[int, ...]:
    """``"0 1 2"``, ``"0,2,4"``, ``"0-3"`` or mixes -> sorted unique layers."""
    out = set()
    for part in text.replace(",", " ").split():
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                if hi - lo >= MAX_LAYER_SPAN:  # no model has that many layers; refuse before allocating them
                    raise CliError(f"layer range {part!r} in --layers is too wide (at most {MAX_LAYER_SPAN} layers)")
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
        except ValueError:
            raise CliError(f"bad layer spec {part!r} in --layers {text!r}; use e.g. '0 1 2', '0,2' or '0-3'") from None
    if not out or min(out) < 0:
        raise CliError(f"bad --layers {text!r}: layers are non-negative integers")
    return tuple(sorted(out))


class TqdmProgress:
    """``progress(stage, done, total)`` as one tqdm bar per stage on stderr."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bars = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=f"{stage:9s}", file=sys.stderr, leave=False,
                                          dynamic_ncols=True)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
            del self.bars[stage]

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def add_search_options(s: argparse.ArgumentParser) -> None:
    """The model, task, split and search options of ``search``, shared by every command that reopens a search
    (``robustness``, ``probe-curve``): the same options give the same search key, so those commands reuse it."""
    s.add_argument("--model", default="demo", help="'demo', a local HF folder or a cached hub id (default demo)")
    s.add_argument("--task", default="shapes-color",
                   help="bundled task name, a .jsonl/.csv manifest, or an image folder (with --question)")
    s.add_argument("--question", default=None, help="question for an image-folder task")
    s.add_argument("--instruction", default=None, help="answer-format instruction (default: the task's own)")
    s.add_argument("--site", dest="sites", nargs="+", action="extend", default=None,
                   help="site kinds to search: mlp (default), resid, attn")
    s.add_argument("--layers", nargs="+", default=None,
                   help="layers to search, e.g. '0 1 2', '0-3' or '0,2' (default all)")
    s.add_argument("--l-max", type=int, default=None, help="only layers <= L_MAX are candidates")
    s.add_argument("--k", type=int, default=1, help="Super Neurons in the voting ensemble (default 1)")
    s.add_argument("--probe-per-class", type=int, default=20)
    s.add_argument("--test-per-class", type=int, default=None, help="default: all remaining examples")
    s.add_argument("--n-examples", type=int, default=400, help="examples of a bundled task (default 400)")
    s.add_argument("--data-seed", type=int, default=0, help="seed of the bundled task generator")
    s.add_argument("--seed", type=int, default=0, help="split and null-control seed")
    s.add_argument("--rule", default="auto", help="auto | stump | nearest_mean | ovr_stump")
    s.add_argument("--metric", default="accuracy", help="accuracy | balanced_accuracy")
    s.add_argument("--no-baselines", action="store_true", help="skip base model, SAV and linear probe")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    s.add_argument("--dtype", default=None, help="fp32 | fp16 | bf16 (default fp32 on CPU, bf16 on CUDA)")
    s.add_argument("--cache-dir", default=None, help="store root (default $SN_CACHE_DIR or "
                   "~/.cache/super-neuron-explorer)")


def search_config(a):
    """The :class:`SearchConfig` of parsed ``add_search_options`` arguments (``--top`` of ``search`` widens the
    stored ranking; other commands use the default, 10)."""
    from .config import SearchConfig

    if a.question:
        from pathlib import Path

        if not Path(a.task).expanduser().is_dir():  # bundled tasks and manifests carry their own questions
            raise CliError(f"--question applies to image-folder tasks only; {a.task!r} is not a folder (bundled "
                           "tasks and manifests carry their own questions; --instruction changes the answer format)")
    top = getattr(a, "top", 10)
    return SearchConfig(model=a.model, task=a.task, question=a.question, instruction=a.instruction,
                        n_examples=a.n_examples, data_seed=a.data_seed, probe_per_class=a.probe_per_class,
                        test_per_class=a.test_per_class, seed=a.seed, sites=tuple(a.sites or ("mlp",)),
                        layers=parse_layers(" ".join(a.layers)) if a.layers else None, l_max=a.l_max, k=a.k,
                        rule=a.rule, metric=a.metric, n_top=max(50, a.k, top), batch_size=a.batch_size,
                        baselines=not a.no_baselines, device=a.device, dtype=a.dtype)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m sn_core", description="Super Neuron Explorer: find single neurons of a VLM that "
                "classify a VQA answer, and use them as early-exit classifiers.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    s = sub.add_parser("search", help="extract activations, score every neuron, report Super Neurons + baselines")
    add_search_options(s)
    s.add_argument("--top", type=int, default=10, help="rows of the ranking shown (default 10)")
    s.add_argument("--save-classifier", default=None, metavar="PATH", help="write the fitted classifier (JSON)")
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    s.add_argument("--quiet", action="store_true", help="no progress bars")

    r = sub.add_parser("predict", help="answer one image (--image) or evaluate a task (--task) with a saved "
                       "classifier (library early exit) or an exported shortcut (onnxruntime)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--classifier", help="classifier JSON written by search --save-classifier")
    src.add_argument("--shortcut", help="shortcut folder written by export")
    r.add_argument("--image", default=None, help="one image to answer (with --question)")
    r.add_argument("--question", default=None, help="the question (--image; or asked of an image-folder --task)")
    r.add_argument("--task", default=None, help="evaluate on a bundled task name (its test split by default), a "
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
    r.add_argument("--device", default="cpu")
    r.add_argument("--dtype", default=None)
    r.add_argument("--json", action="store_true")

    x = sub.add_parser("export", help="write a standalone shortcut: one ONNX graph + processor files + card")
    xs = x.add_mutually_exclusive_group(required=True)
    xs.add_argument("--classifier", help="classifier JSON written by search --save-classifier")
    xs.add_argument("--search", metavar="KEY", help="a finished search's key (search --json prints it)")
    x.add_argument("--neuron", nargs="+", default=None, help="with --search: neuron id(s) (default its top-k)")
    x.add_argument("--out", required=True, help="new folder to write (must not exist, or be empty)")
    x.add_argument("--model", default=None, help="override the model the classifier names")
    x.add_argument("--cache-dir", default=None, help="store root of --search")
    x.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    from .cli_reports import add_report_parsers

    add_report_parsers(sub)  # robustness, probe-curve
    return p


def _fmt(v, pct=True) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{100 * v:.1f}%" if pct else (f"{v:.1f}" if isinstance(v, float) else str(v))


def _ci(ci) -> str:
    return f"  [95% CI {100 * ci[0]:.1f}-{100 * ci[1]:.1f}%]" if ci else ""


def print_summary(res, top: int, out=sys.stdout) -> None:
    s = res.summary
    w = out.write
    w(f"model {s.model_id}  task {s.task}  ({s.n_classes} classes, chance {_fmt(s.chance)})\n")
    w(f"split: {s.n_probe} probe / {s.n_test} held-out test examples (seed {s.seed}); "
      f"{s.n_neurons_searched} neurons searched at sites {', '.join(s.sites)}, layers "
      f"{s.layers[0]}..{s.layers[-1]}{'  [cached]' if s.cache_hit else ''}\n\n")
    w(f"Super Neuron{'s' if s.k > 1 else ''}: {', '.join(s.sn_neuron_ids)}  (rule {s.rule}, exit after "
      f"layer {s.exit_layer})\n")
    w(f"  test accuracy        {_fmt(s.sn_test_accuracy)}{_ci(s.sn_test_ci)}\n")
    w(f"  probe accuracy       {_fmt(s.sn_probe_accuracy)}   (split it was chosen on: optimistic)\n")
    w(f"  null control (probe) {_fmt(s.null_probe_accuracy)}   (best probe score with shuffled labels)\n\n")
    if s.shortcut_neuron_id is not None:
        w(f"recommended shortcut: {s.shortcut_neuron_id}  (exit after layer {s.shortcut_layer} of "
          f"{s.n_layers_total}, FLOP limit {_fmt(s.shortcut_flop_limit, pct=False)}x: the earliest exit whose best "
          "neuron is not significantly below the overall best on the probe split)\n")
        w(f"  test accuracy        {_fmt(s.shortcut_test_accuracy)}\n\n")
    w("baselines (test accuracy):\n")
    w(f"  base model (greedy)  {_fmt(s.base_accuracy)}{_ci(s.base_ci)}"
      + (f"   (Super Neuron vs base: McNemar p={s.p_sn_vs_base:.2g})" if s.p_sn_vs_base is not None else "") + "\n")
    w(f"  SAV (top-20 heads)   {_fmt(s.sav_test_accuracy)}\n")
    lr_layer = f" (layer {s.probe_lr_layer})" if s.probe_lr_layer is not None else ""
    w(f"  logistic probe{lr_layer:10s} {_fmt(s.probe_lr_test_accuracy)}\n\n")
    w(f"top {min(top, len(res.top_k))} neurons by probe score:\n")
    w(f"  {'rank':>4}  {'neuron':32s} {'probe':>7} {'test':>7}\n")
    for row in res.top_k.head(top).itertuples():
        w(f"  {row.rank:>4}  {row.neuron_id:32s} {_fmt(row.probe_score):>7} {_fmt(row.test_accuracy):>7}\n")


def _check_writable_file(path: str, flag: str) -> None:
    """Refuse an output path that cannot be a file before any long work runs."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        raise CliError(f"{flag} {path!r} is a folder; give a file name (e.g. {str(p / 'classifier.json')!r})")
    if not p.parent.exists():
        raise CliError(f"{flag} {path!r}: folder {str(p.parent)!r} does not exist")


def cmd_search(a) -> int:
    from .search import run_search

    if a.save_classifier:
        _check_writable_file(a.save_classifier, "--save-classifier")
    if a.top < 1:
        raise CliError(f"--top must be at least 1, got {a.top}")
    cfg = search_config(a)
    prog = TqdmProgress(enabled=not a.quiet)
    try:
        res = run_search(cfg, progress=prog, root=a.cache_dir)
    finally:
        prog.close()
    if a.save_classifier:
        clf = res.classifier()
        clf.to_json(a.save_classifier)
    if a.json:
        out = {k: getattr(res.summary, k) for k in JSON_FIELDS}
        out["frontier"] = res.frontier().to_dict(orient="records")
        out["key"] = res.key
        if a.save_classifier:
            out["classifier_path"] = a.save_classifier
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        print_summary(res, a.top)
        if a.save_classifier:
            print(f"\nclassifier written to {a.save_classifier}")
    return 0


def cmd_predict(a) -> int:
    if a.task is not None:
        if a.image is not None:
            raise CliError("give either --image (one image) or --task (many examples), not both")
        return cmd_predict_task(a)
    if a.image is None or a.question is None:
        raise CliError("predict needs --image and --question (one image) or --task (many examples)")
    if a.shortcut:
        return cmd_predict_shortcut_image(a)
    from .early_exit import load_predictor
    from .images import load_image

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
    from .shortcut.evaluate import search_settings

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

    from .shortcut.evaluate import report, select_examples

    if a.batch_size < 1:
        raise CliError(f"--batch-size must be at least 1, got {a.batch_size}")
    t0 = time.perf_counter()
    if a.shortcut:
        from .shortcut import load_shortcut

        sc = load_shortcut(a.shortcut)
        meta, labels, neurons, exit_layer = sc.card["classifier"], sc.labels, sc.neurons, sc.exit_layer
        who = {"shortcut": a.shortcut, "model_id": sc.card["source_model"]["model_id"]}
    else:
        from .early_exit import load_predictor

        pred = load_predictor(a.classifier, model=a.model, device=a.device, dtype=a.dtype)
        meta, labels = pred.clf.meta_, [str(c) for c in pred.clf.classes_]
        neurons, exit_layer = list(pred.clf.neurons_), pred.exit_layer
        who = {"classifier": a.classifier, "model_id": pred.loaded.model_id}
    sel = select_examples(a.task, a.question, _shortcut_settings(a, meta), a.split)
    task, idx = sel.task, sel.indices
    from .images import load_image
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


def cmd_predict_shortcut_image(a) -> int:
    from .images import load_image
    from .shortcut import load_shortcut

    image = load_image(a.image)
    t0 = time.perf_counter()
    sc = load_shortcut(a.shortcut)
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


def cmd_export(a) -> int:
    from pathlib import Path

    from .shortcut import export_shortcut

    if a.neuron and not a.search:
        raise CliError("--neuron applies to --search only (a classifier file names its own neurons)")
    out = Path(a.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CliError(f"--out {a.out!r} already exists and is not an empty folder; choose a new folder")
    if not out.parent.is_dir():
        raise CliError(f"--out {a.out!r}: folder {str(out.parent)!r} does not exist")
    test_acc = None
    if a.search:
        from .search import SearchResult

        res = SearchResult.load(a.search, root=a.cache_dir)
        clf = res.classifier(a.neuron)
        test_acc = res.test_accuracy(list(clf.neurons_))
        path = export_shortcut(clf, out, model=a.model, test_accuracy=test_acc, search_key=a.search,
                               root=a.cache_dir)
    else:
        path = export_shortcut(a.classifier, out, model=a.model, root=a.cache_dir)
    from .shortcut import read_card

    card = read_card(path)
    doc = {"out": str(path), "model_id": card["source_model"]["model_id"], "family": card["source_model"]["family"],
           "neurons": [n["id"] for n in card["neurons"]], "exit_layer": card["exit_layer"],
           "labels": card["labels"], "test_accuracy": card["accuracy"]["test"],
           "flop_limit": card["flops"]["flop_limit"], "onnx_opset": card["onnx"]["opset"],
           "graph_sha256": card["onnx"]["sha256"]}
    if a.json:
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        print(f"shortcut written to {path}: {', '.join(doc['neurons'])} (exit after layer {doc['exit_layer']}, "
              f"FLOP limit {doc['flop_limit']:.1f}x), graph sha256 {doc['graph_sha256'][:16]}...")
    return 0


def main(argv=None) -> int:
    from .classifier import ArtifactError
    from .data import ManifestError
    from .images import ImageError
    from .models import UnknownModelError
    from .search import TaskError
    from .shortcut.card import ShortcutError
    from .store import CorruptShardError

    try:
        a = build_parser().parse_args(argv)
        if a.cmd == "export":
            return cmd_export(a)
        if a.cmd in ("robustness", "probe-curve"):
            from .cli_reports import cmd_probe_curve, cmd_robustness

            return cmd_robustness(a) if a.cmd == "robustness" else cmd_probe_curve(a)
        return cmd_search(a) if a.cmd == "search" else cmd_predict(a)
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (UnknownModelError, TaskError, ManifestError, ImageError, ArtifactError, CorruptShardError,
            ShortcutError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, KeyError, FileNotFoundError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:  # a folder where a file was expected, no permission, disk full: one line, not a traceback
        print(f"error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("error: out of memory; use fewer examples, layers or a smaller batch size", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted (finished chunks are kept; rerun to resume)", file=sys.stderr)
        return 130

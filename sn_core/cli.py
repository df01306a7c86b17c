"""Command line: ``python -m sn_core search ...`` and ``python -m sn_core predict ...``.

``search`` runs extraction + search + baselines and prints a readable summary (progress bars on stderr); with
``--json`` it prints exactly one JSON object on stdout. ``predict`` answers one image with a saved classifier by
early exit and prints the label and the time taken. Errors print one line ``error: ...`` on stderr and exit 2.
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


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m sn_core", description="Super Neuron Explorer: find single neurons of a VLM that "
                "classify a VQA answer, and use them as early-exit classifiers.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    s = sub.add_parser("search", help="extract activations, score every neuron, report Super Neurons + baselines")
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
    s.add_argument("--top", type=int, default=10, help="rows of the ranking shown (default 10)")
    s.add_argument("--no-baselines", action="store_true", help="skip base model, SAV and linear probe")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    s.add_argument("--dtype", default=None, help="fp32 | fp16 | bf16 (default fp32 on CPU, bf16 on CUDA)")
    s.add_argument("--cache-dir", default=None, help="store root (default $SN_CACHE_DIR or "
                   "~/.cache/super-neuron-explorer)")
    s.add_argument("--save-classifier", default=None, metavar="PATH", help="write the fitted classifier (JSON)")
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    s.add_argument("--quiet", action="store_true", help="no progress bars")

    r = sub.add_parser("predict", help="answer one image with a saved classifier by early exit")
    r.add_argument("--classifier", required=True, help="classifier JSON written by search --save-classifier")
    r.add_argument("--image", required=True)
    r.add_argument("--question", required=True)
    r.add_argument("--model", default=None, help="override the model the artifact names")
    r.add_argument("--device", default="cpu")
    r.add_argument("--dtype", default=None)
    r.add_argument("--json", action="store_true")
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
    from .config import SearchConfig
    from .search import run_search

    if a.save_classifier:
        _check_writable_file(a.save_classifier, "--save-classifier")
    if a.top < 1:
        raise CliError(f"--top must be at least 1, got {a.top}")
    if a.question:
        from pathlib import Path

        if not Path(a.task).expanduser().is_dir():  # bundled tasks and manifests carry their own questions
            raise CliError(f"--question applies to image-folder tasks only; {a.task!r} is not a folder (bundled "
                           "tasks and manifests carry their own questions; --instruction changes the answer format)")

    cfg = SearchConfig(model=a.model, task=a.task, question=a.question, instruction=a.instruction,
                       n_examples=a.n_examples, data_seed=a.data_seed, probe_per_class=a.probe_per_class,
                       test_per_class=a.test_per_class, seed=a.seed, sites=tuple(a.sites or ("mlp",)),
                       layers=parse_layers(" ".join(a.layers)) if a.layers else None, l_max=a.l_max, k=a.k,
                       rule=a.rule,
                       metric=a.metric, n_top=max(50, a.k, a.top), batch_size=a.batch_size,
                       baselines=not a.no_baselines, device=a.device, dtype=a.dtype)
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


def main(argv=None) -> int:
    from .classifier import ArtifactError
    from .data import ManifestError
    from .images import ImageError
    from .models import UnknownModelError
    from .search import TaskError
    from .store import CorruptShardError

    try:
        a = build_parser().parse_args(argv)
        return cmd_search(a) if a.cmd == "search" else cmd_predict(a)
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (UnknownModelError, TaskError, ManifestError, ImageError, ArtifactError, CorruptShardError) as e:
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

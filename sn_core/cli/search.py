"""CLI ``search``: extract activations, score every neuron, and print the Super Neuron(s) beside the baselines
(or, with ``--json``, one JSON object of ``JSON_FIELDS`` plus the frontier and the search key)."""
from __future__ import annotations

import json
import sys

from sn_core.cli.common import CliError, TqdmProgress, _fmt, add_search_options, search_config

JSON_FIELDS = ("model_id", "task", "n_probe", "n_test", "n_classes", "chance", "base_accuracy", "sn_test_accuracy",
               "sn_probe_accuracy", "sn_probe_score", "sn_neuron_id", "sn_layer", "sn_neuron", "sn_site",
               "sn_neuron_ids", "exit_layer", "null_probe_accuracy", "sav_test_accuracy", "probe_lr_test_accuracy",
               "probe_lr_layer", "rule", "metric", "k", "seed", "sites", "layers", "n_neurons_searched",
               "weights_hash", "cache_hit", "extraction_cache_hit", "seconds",
               "shortcut_neuron_id", "shortcut_layer", "shortcut_probe_accuracy", "shortcut_test_accuracy",
               "shortcut_flop_limit", "sn_flop_limit", "sn_test_ci", "base_ci", "p_sn_vs_base", "p_sn_vs_sav")


def add_search_parser(sub) -> None:
    """Register ``search`` on the CLI's subparsers."""
    s = sub.add_parser("search", help="extract activations, score every neuron, report Super Neurons + baselines")
    add_search_options(s)
    s.add_argument("--top", type=int, default=10, help="rows of the ranking shown (default 10)")
    s.add_argument("--save-classifier", default=None, metavar="PATH",
                   help="write the fitted classifier of the Super Neuron(s), the overall best (JSON)")
    s.add_argument("--save-shortcut-classifier", default=None, metavar="PATH",
                   help="write the fitted classifier of the recommended shortcut (JSON), for `export --classifier`")
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    s.add_argument("--quiet", action="store_true", help="no progress bars")


def _ci(ci) -> str:
    return f"  [95% CI {100 * ci[0]:.1f}-{100 * ci[1]:.1f}%]" if ci else ""


def print_summary(res, top: int, out=None) -> None:
    """The human-readable summary of a search, on ``out`` (default: the current ``sys.stdout``, read at call time)."""
    s = res.summary
    w = (out or sys.stdout).write
    w(f"model {s.model_id}  task {s.task}  ({s.n_classes} classes, chance {_fmt(s.chance)})\n")
    w(f"split: {s.n_probe} probe / {s.n_test} held-out test examples (seed {s.seed}); "
      f"{s.n_neurons_searched} neurons searched at sites {', '.join(s.sites)}, layers "
      f"{s.layers[0]}..{s.layers[-1]}{'  [cached]' if s.cache_hit else ''}\n")
    if s.extra.get("task_rows"):  # a benchmark: rows it drew from, and what was left out (missing images, casting)
        w(f"benchmark: {s.extra.get('task_drawn')} of {s.extra['task_rows']:,} usable rows drawn (class-stratified); "
          f"{s.extra.get('skipped_missing_images', 0):,} skipped for a missing image file. "
          f"{s.extra.get('task_notes') or ''}\n")
    w("\n")
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
    """Refuse an output path that cannot be a classifier file before any long work runs: a folder, a missing
    parent folder, or an existing file that is not a classifier artifact (never overwritten)."""
    from pathlib import Path

    from sn_core.classifier.artifact import ARTIFACT_FORMAT, MAX_ARTIFACT_BYTES
    from sn_core.safe_json import loads_untrusted

    p = Path(path)
    if p.is_dir():
        raise CliError(f"{flag} {path!r} is a folder; give a file name (e.g. {str(p / 'classifier.json')!r})")
    if not p.parent.exists():
        raise CliError(f"{flag} {path!r}: folder {str(p.parent)!r} does not exist")
    if p.exists():
        try:
            doc = loads_untrusted(p.read_bytes(), str(p)) if p.stat().st_size <= MAX_ARTIFACT_BYTES else None
        except (OSError, ValueError):
            doc = None
        if not (isinstance(doc, dict) and doc.get("format") == ARTIFACT_FORMAT):
            raise CliError(f"{flag} {path!r} exists and is not a classifier file; it is not overwritten: choose "
                           "another file name")


def cmd_search(a) -> int:
    from sn_core.search.run import run_search

    if a.save_classifier:
        _check_writable_file(a.save_classifier, "--save-classifier")
    if a.save_shortcut_classifier:
        _check_writable_file(a.save_shortcut_classifier, "--save-shortcut-classifier")
    if a.top < 1:
        raise CliError(f"--top must be at least 1, got {a.top}")
    cfg = search_config(a)
    prog = TqdmProgress(enabled=not a.quiet)
    try:
        res = run_search(cfg, progress=prog, root=a.cache_dir)
    finally:
        prog.close()
    if a.save_classifier:
        res.classifier().to_json(a.save_classifier)
    if a.save_shortcut_classifier:
        if res.summary.shortcut_neuron_id is None:
            raise CliError("this search has no recommended shortcut (no frontier); --save-classifier writes the "
                           "Super Neuron(s)")
        res.classifier([res.summary.shortcut_neuron_id]).to_json(a.save_shortcut_classifier)
    if a.json:
        out = {k: getattr(res.summary, k) for k in JSON_FIELDS}
        out["frontier"] = res.frontier().to_dict(orient="records")
        out["key"] = res.key
        if a.save_classifier:
            out["classifier_path"] = a.save_classifier
        if a.save_shortcut_classifier:
            out["shortcut_classifier_path"] = a.save_shortcut_classifier
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        print_summary(res, a.top)
        if a.save_classifier:
            print(f"\nclassifier written to {a.save_classifier}")
        if a.save_shortcut_classifier:
            print(f"{'' if a.save_classifier else chr(10)}recommended shortcut's classifier written to "
                  f"{a.save_shortcut_classifier}")
    return 0

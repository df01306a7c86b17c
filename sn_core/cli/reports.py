"""CLI commands that report on a search: ``robustness`` and ``probe-curve``.

Both take the options of ``search`` (``cli_common.add_search_options``), so the same options reopen the same cached search
(``run_search`` returns it from the store; a search not yet run is run first). Errors are one line, exit 2
(``cli.main``).
"""
from __future__ import annotations

import json
import math
import sys


def add_report_parsers(sub) -> None:
    """Register ``robustness`` and ``probe-curve`` on the CLI's subparsers."""
    from sn_core.cli.common import add_search_options

    r = sub.add_parser("robustness", help="score a search's Super Neuron unchanged under reworded prompts, shifted "
                       "images and image controls (blank, noise, shuffled), beside the base model")
    add_search_options(r)
    r.add_argument("--rewordings", default=None, metavar="FILE",
                   help="rewordings, one per line: QUESTION or QUESTION | INSTRUCTION ({question} keeps each "
                   "example's question; default: the task's own list)")
    r.add_argument("--no-shifted", action="store_true", help="skip the shifted-image row")
    r.add_argument("--no-controls", action="store_true", help="skip the blank / noise / shuffled image rows")
    r.add_argument("--no-base", action="store_true", help="skip the base model's generation on the changed inputs")
    r.add_argument("--max-examples", type=int, default=None,
                   help="score a seeded subset of this many test examples (default all)")
    r.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    r.add_argument("--quiet", action="store_true", help="no progress bars")

    c = sub.add_parser("probe-curve", help="test accuracy of the selected neuron against probe examples per class "
                       "(re-split, re-selected from the search's stored activations)")
    add_search_options(c)
    c.add_argument("--sizes", nargs="+", type=int, default=[5, 10, 20, 50, 100],
                   help="probe examples per class (default 5 10 20 50 100)")
    c.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4], help="split seeds (default 0-4)")
    c.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    c.add_argument("--quiet", action="store_true", help="no progress bars")


def cmd_robustness(a) -> int:
    from sn_core.cli.common import CliError, TqdmProgress, search_config
    from sn_core.models import load_model
    from sn_core.reports.robustness import format_report, load_rewordings, robustness_report
    from sn_core.search.run import resolve_task, run_search

    rewordings = load_rewordings(a.rewordings) if a.rewordings else None  # refused before any model work
    if a.max_examples is not None and a.max_examples < 1:
        raise CliError(f"--max-examples must be at least 1, got {a.max_examples}")
    cfg = search_config(a)
    task = resolve_task(cfg)  # an unknown task or a bad manifest is refused before the model loads
    prog = TqdmProgress(enabled=not a.quiet)
    try:
        loaded = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype, progress=prog)
        res = run_search(cfg, task=task, loaded=loaded, progress=prog, root=a.cache_dir)
        report = robustness_report(res, loaded, rewordings=rewordings, shifted=not a.no_shifted,
                                   controls=() if a.no_controls else ("blank", "noise", "shuffled"),
                                   base=not a.no_base, max_examples=a.max_examples, progress=prog)
    finally:
        prog.close()
    if a.json:
        sys.stdout.write(json.dumps(report.to_json()) + "\n")
    else:
        sys.stdout.write(format_report(report))
    return 0


def cmd_probe_curve(a) -> int:
    from sn_core.cli.common import CliError, TqdmProgress, search_config
    from sn_core.reports.probe_curve import curve_to_json, probe_curve_summary, probe_size_curve
    from sn_core.search.run import run_search

    if any(s < 1 for s in a.sizes):
        raise CliError(f"--sizes must be positive, got {a.sizes}")
    if any(s < 0 for s in a.seeds):
        raise CliError(f"--seeds must be non-negative, got {a.seeds}")
    cfg = search_config(a)
    prog = TqdmProgress(enabled=not a.quiet)
    try:
        res = run_search(cfg, progress=prog, root=a.cache_dir)
        curve = probe_size_curve(res, sizes=a.sizes, seeds=a.seeds, progress=prog)
    finally:
        prog.close()
    if a.json:
        doc = curve_to_json(curve)
        doc.update(search_key=res.key, task=cfg.task, model_id=res.summary_value("model_id"),
                   search_probe_per_class=cfg.probe_per_class, search_seed=cfg.seed)
        sys.stdout.write(json.dumps(doc) + "\n")
        return 0
    summ = probe_curve_summary(curve)
    w = sys.stdout.write
    w(f"model {res.summary_value('model_id')}  task {cfg.task}  search neuron {', '.join(curve.attrs['search_neuron_ids'])}"
      f"  (searched with {cfg.probe_per_class} probe examples per class, seed {cfg.seed})\n")
    w(f"seeds {', '.join(map(str, dict.fromkeys(a.seeds)))}; every searched neuron re-scored on each new probe "
      "split, the best one's test accuracy reported\n\n")
    w(f"  {'probe/class':>11} {'n probe':>7} {'n test':>6}  {'selected: mean':>14} {'min':>6} {'max':>6}  "
      f"{'search neuron refit':>19}  {'same neuron':>11}\n")
    for r in summ.to_dict(orient="records"):
        if r["n_seeds"] == 0:
            w(f"  {r['probe_per_class']:>11}  {r['note']}\n")
            continue
        same = round(r["share_same_as_search"] * r["n_seeds"])
        w(f"  {r['probe_per_class']:>11} {int(r['n_probe']):>7} {int(r['n_test']):>6}  "
          f"{_pct(r['test_accuracy_mean']):>14} {_pct(r['test_accuracy_min']):>6} {_pct(r['test_accuracy_max']):>6}  "
          f"{_pct(r['search_neuron_test_accuracy_mean']):>19}  {same:>7}/{r['n_seeds']}\n")
    return 0


def _pct(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}%"


__all__ = ["add_report_parsers", "cmd_probe_curve", "cmd_robustness"]

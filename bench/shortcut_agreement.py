"""Exported shortcut vs the library's early exit, label by label, on every bundled task's test split.

For each bundled task: the default search (``SearchConfig(task=...)``, no baselines: they do not change the
ranking), its recommended shortcut's classifier, exported by ``sn_core.shortcut.export_shortcut``; then the test
split's labels and neuron values from ``EarlyExitPredictor`` (torch) and from the exported graph (onnxruntime),
both at ``--batch-size`` (left-padded batches). Prints, per task, the exit layer, the share of equal labels and the
largest relative difference of the values; the last line is ``agreement min X`` (the lowest share over tasks).

    python bench/shortcut_agreement.py [--tasks ...] [--batch-size 8]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def main(argv=None) -> int:
    from sn_core.config import SearchConfig
    from sn_core.data import bundled_task_names
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.data.images import load_image
    from sn_core.models import load_model
    from sn_core.search.run import run_search
    from sn_core.shortcut import export_shortcut, load_shortcut

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=bundled_task_names())
    ap.add_argument("--batch-size", type=int, default=8)
    a = ap.parse_args(argv)
    full = load_model("demo")
    worst = 1.0
    print(f"{'task':28s} {'shortcut neuron':32s} {'exit':>4} {'n test':>6} {'labels equal':>12} {'max rel diff':>12}")
    for name in a.tasks:
        res = run_search(SearchConfig(task=name, baselines=False), loaded=full)
        nid = res.shortcut_neuron_id
        clf = res.classifier([nid])
        task = res.task
        test = [task.examples[int(i)] for i in res.split.test]
        images = [load_image(e.image) for e in test]
        questions = [e.question for e in test]
        pred = EarlyExitPredictor(full, clf, instruction=task.instruction)
        ref = np.concatenate([pred.values(images[i:i + a.batch_size], questions[i:i + a.batch_size])
                              for i in range(0, len(images), a.batch_size)])  # [n_test, 1]
        with tempfile.TemporaryDirectory() as td:
            sc = load_shortcut(export_shortcut(clf, Path(td) / "shortcut"))
            got = sc.predict(images, questions, batch_size=a.batch_size)
        equal = float(np.mean(np.asarray(got.labels) == pred.labels(ref)))
        rel = float(np.max(np.abs(got.values - ref) / np.maximum(np.abs(ref), np.abs(ref).mean())))
        worst = min(worst, equal)
        print(f"{name:28s} {nid:32s} {clf.exit_layer_:>4} {len(test):>6} {equal:>12.4f} {rel:>12.2e}", flush=True)
    print(f"agreement min {worst:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

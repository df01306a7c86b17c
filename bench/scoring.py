"""Benchmark: neurons scored per second by ``sn_core.scoring.neuron_scores`` vs a per-neuron scikit-learn loop, in one run.

Synthetic activations at realistic sizes (default: 28 layers x 18944 neurons x 1000 samples, the MLP of a 7B
Qwen2-based VLM), scored layer by layer as a search does, for a binary task (decision stumps) and a 4-class task
(1-D nearest class mean). The baseline fits ``DecisionTreeClassifier(max_depth=1)`` (binary) or ``NearestCentroid``
(multi-class) to one neuron at a time on a subsample of neurons; both rates and their ratio are printed side by
side, with the machine's load average, since other processes on a shared machine slow every figure.

    python bench/scoring.py              # full size, ~1-3 min on 2 cores
    python bench/scoring.py --quick      # 2 layers x 4096 neurons, seconds
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from sn_core.scoring.neuron_scores import score_neurons  # noqa: E402


def synthetic_layer(rng, n_samples, n_neurons, y, dtype):
    """Gaussian activations [n_samples, n_neurons] with a few neurons shifted by class (so there is signal)."""
    X = rng.standard_normal((n_samples, n_neurons), dtype=np.float32)  # [n, m]
    planted = rng.choice(n_neurons, size=min(8, n_neurons), replace=False)
    X[:, planted] += (y[:, None] * rng.uniform(0.5, 3.0, size=planted.size)).astype(np.float32)
    return X.astype(dtype)


def sklearn_loop(X, y, n_classes):
    """Per-neuron scikit-learn fit + score: (scores [m], wall seconds, CPU seconds)."""
    from sklearn.neighbors import NearestCentroid
    from sklearn.tree import DecisionTreeClassifier

    scores = np.empty(X.shape[1])
    t0, c0 = time.perf_counter(), time.process_time()
    for j in range(X.shape[1]):
        col = X[:, [j]].astype(np.float32)  # [n, 1]
        model = DecisionTreeClassifier(max_depth=1) if n_classes == 2 else NearestCentroid()
        scores[j] = model.fit(col, y).score(col, y)
    return scores, time.perf_counter() - t0, time.process_time() - c0


def run_task(args, n_classes, rng):
    y = rng.integers(0, n_classes, args.samples)  # [n]
    wall = cpu = 0.0
    n_scored = 0
    first = None
    for layer in tqdm(range(args.layers), desc=f"{n_classes}-class layers", leave=False):
        X = synthetic_layer(rng, args.samples, args.neurons, y, args.dtype)  # not timed
        t0, c0 = time.perf_counter(), time.process_time()
        res = score_neurons(X, y, n_classes, metric=args.metric, n_jobs=args.n_jobs)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        n_scored += X.shape[1]
        if first is None:
            first = (X[:, : args.baseline_neurons].copy(), res.subset(np.arange(min(args.baseline_neurons,
                                                                                    X.shape[1]))))
    Xb, ours = first
    base_scores, base_s, base_cpu = sklearn_loop(Xb, y, n_classes)
    if n_classes == 2:  # our stump maximises accuracy, the tree's split Gini: ours must be >= on every neuron
        agree = float(np.mean(ours.scores >= base_scores - 1e-12))
        agree_what = "ours >= tree"
    else:  # same rule (nearest class centroid in 1-D); only exact distance ties can differ
        agree = float(np.mean(np.abs(ours.scores - base_scores) < 1e-12))
        agree_what = "same score"
    rate, cpu_rate = n_scored / wall, n_scored / cpu
    base_rate, base_cpu_rate = Xb.shape[1] / base_s, Xb.shape[1] / base_cpu
    return {
        "task": f"{n_classes}-class", "rule": ours.rule, "layers": args.layers, "neurons_per_layer": args.neurons,
        "samples": args.samples, "dtype": args.dtype, "neurons": n_scored, "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2), "neurons_per_s": round(rate), "neurons_per_cpu_s": round(cpu_rate), "baseline": "DecisionTreeClassifier(max_depth=1)"
        if n_classes == 2 else "NearestCentroid", "baseline_neurons": int(Xb.shape[1]),
        "baseline_neurons_per_s": round(base_rate, 1), "speedup": round(rate / base_rate, 1),
        "baseline_neurons_per_cpu_s": round(base_cpu_rate, 1), "speedup_cpu": round(cpu_rate / base_cpu_rate, 1),
        "agreement": round(agree, 4), "agreement_is": agree_what,
        "projected_s_for_530k": round(28 * 18944 / rate, 1),
        "projected_cpu_s_for_530k": round(28 * 18944 / cpu_rate, 1),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=28)
    p.add_argument("--neurons", type=int, default=18944, help="neurons per layer")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--classes", type=int, nargs="+", default=[2, 4])
    p.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    p.add_argument("--metric", default="accuracy", choices=["accuracy", "balanced_accuracy"])
    p.add_argument("--n-jobs", type=int, default=None, help="threads (default: scoring's default)")
    p.add_argument("--baseline-neurons", type=int, default=300, help="neurons in the scikit-learn loop")
    p.add_argument("--quick", action="store_true", help="2 layers x 4096 neurons, 100 baseline neurons")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.layers, args.neurons, args.baseline_neurons = 2, 4096, 100
    rng = np.random.default_rng(args.seed)
    load0 = os.getloadavg()
    rows = [run_task(args, k, rng) for k in args.classes]
    load1 = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load0[0]:.1f} at start, {load1[0]:.1f} at end "
          f"(> cores: other processes share the CPU, figures are pessimistic); n_jobs={args.n_jobs or 'default'}")
    cols = ["task", "rule", "neurons", "samples", "dtype", "wall_s", "cpu_s", "neurons_per_s", "neurons_per_cpu_s",
            "baseline", "baseline_neurons_per_s", "baseline_neurons_per_cpu_s", "speedup", "speedup_cpu",
            "agreement", "projected_s_for_530k", "projected_cpu_s_for_530k"]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols) + f"   ({r['agreement_is']} on {r['baseline_neurons']} neurons)")
    if args.json:
        args.json.write_text(json.dumps({"load_start": load0, "load_end": load1, "cores": os.cpu_count(),
                                         "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()

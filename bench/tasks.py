"""Super Neurons vs the model's own answers and the baselines, on every bundled task, in one run.

    python bench/tasks.py [--model demo] [--probe-per-class 20] [--n-examples 400] [--l-max L] [--k 1]

Prints one markdown table (the README's results table is pasted from this output). Every accuracy is held-out
test-split accuracy; "SN probe" is the probe-split score the neuron was selected on, "null" the best probe score
after shuffling the probe labels (how far chance alone reaches with this many neurons and probe examples).
"SN vs base" compares the Super Neuron with the model's own answers on the same test examples (paired, exact
McNemar test on the examples where exactly one of the two is right): "beats" / "worse" when p < 0.05, else "matches".
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sn_core.config import SearchConfig  # noqa: E402
from sn_core.data import bundled_task_names  # noqa: E402
from sn_core.models import load_model  # noqa: E402
from sn_core.data.answers import match_label  # noqa: E402
from sn_core.search.run import run_search  # noqa: E402


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def sn_vs_base(result) -> tuple[str, float]:
    """Paired comparison of the SN (top-k vote) and the base model's answers on the test split (exact McNemar)."""
    from scipy.stats import binomtest

    base = (result.baselines or {}).get("base") or {}
    if "answers" not in base:
        return "n/a", float("nan")
    ids = list(result.top_k["neuron_id"][: result.config.k])
    cols = [result.neuron_values(n) for n in ids]
    test = cols[0].split == "test"
    X = np.stack([c.values[test] for c in cols], axis=1)  # [n_test, k]
    y = cols[0].labels[test]
    sn_right = result.classifier(ids).predict(X) == y
    base_right = np.array([match_label(a, result.labels) == t for a, t in zip(base["answers"], y)])
    b, c = int(np.sum(sn_right & ~base_right)), int(np.sum(~sn_right & base_right))
    p = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5).pvalue
    return ("beats" if b > c else "worse") if p < 0.05 else "matches", p


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="demo")
    p.add_argument("--tasks", nargs="*", default=None)
    p.add_argument("--probe-per-class", type=int, default=20)
    p.add_argument("--n-examples", type=int, default=400)
    p.add_argument("--l-max", type=int, default=None)
    p.add_argument("--k", type=int, default=1)
    p.add_argument("--site", nargs="*", default=["mlp"])
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    loaded = load_model(a.model)
    print(f"model {loaded.model_id}, {loaded.n_layers} decoder layers; probe {a.probe_per_class}/class, "
          f"{a.n_examples} examples/task, sites {a.site}, l_max {a.l_max}, k {a.k}, seed {a.seed}\n")
    print("| task | classes | n probe / test | base model | best SN (test) | SN probe | null probe | SN | "
          "SN vs base | SAV (test) | linear probe (test) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    verdicts: list[str] = []
    tasks = a.tasks or bundled_task_names("trained")  # unseen-question and shifted tasks: bench/claims.py
    t0 = time.time()
    for name in tasks:
        cfg = SearchConfig(model=a.model, task=name, n_examples=a.n_examples, probe_per_class=a.probe_per_class,
                           l_max=a.l_max, k=a.k, sites=tuple(a.site), seed=a.seed)
        result = run_search(cfg, loaded=loaded)
        s = result.summary
        verdict, p = sn_vs_base(result)
        verdicts.append(verdict)
        print(f"| `{name}` | {s.n_classes} | {s.n_probe} / {s.n_test} | {_f(s.base_accuracy)} | "
              f"**{_f(s.sn_test_accuracy)}** | {_f(s.sn_probe_accuracy)} | {_f(s.null_probe_accuracy)} | "
              f"`{s.sn_neuron_id}` | {verdict} (p={p:.2g}) | {_f(s.sav_test_accuracy)} | {_f(s.probe_lr_test_accuracy)} |",
              flush=True)
    summary = ", ".join(f"{v} on {verdicts.count(v)}" for v in ("beats", "matches", "worse") if v in verdicts)
    print(f"\nSN vs the model's own answers: {summary} of {len(tasks)} tasks ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

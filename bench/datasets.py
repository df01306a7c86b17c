"""Reading a large benchmark's annotations: the index of a synthetic 150k-question CLEVR file and a class-stratified
sample of 400, against pandas reading the whole file.

The questions file has the published shape (``{"info": ..., "questions": [...]}``, each question with its
``program``; written by ``tests/helpers/benchmark_fixtures.write_clevr_questions``, no images). Each reader runs in
a fresh subprocess, so its peak resident set size (``ru_maxrss``) is its own:

- ``index``: ``sn_core.data.benchmarks.clevr.index`` (one record at a time, ``jsonscan``; keeps image file, question
  and answer of the ``yesno`` family) + ``balanced_sample(400)``; no image is opened;
- ``pandas``: ``json.load`` of the file into ``pandas.DataFrame(questions)`` (every column, programs included), the
  ``yesno`` rows selected and 400 sampled per class with ``groupby`` and ``sample``.

Printed per reader: seconds, questions read per second, peak RSS and its rise over the process's RSS after imports.

Usage::

    python bench/datasets.py                 # 150,000 questions, 400 sampled
    python bench/datasets.py --rows 700000   # the size of CLEVR's train questions
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def worker(kind: str, path: str, n: int) -> dict:
    if kind == "index":
        from sn_core.data.benchmarks.base import balanced_sample
        from sn_core.data.benchmarks.clevr import index
    else:
        import numpy as np  # noqa: F401
        import pandas as pd
    base = _current_rss_mb()
    t0 = time.perf_counter()
    if kind == "index":
        idx = index(path, "yesno", {})
        pick = balanced_sample([r.label for r in idx.rows], n, seed=0)
        read, kept, sampled = idx.n_read, len(idx.rows), len(pick)
    else:
        with open(path) as f:
            df = pd.DataFrame(json.load(f)["questions"])
        yn = df[df["answer"].isin(["yes", "no"])]
        pick = yn.groupby("answer", group_keys=False).apply(lambda g: g.sample(n=min(len(g), n // 2), random_state=0))
        read, kept, sampled = len(df), len(yn), len(pick)
    secs = time.perf_counter() - t0
    return {"reader": kind, "seconds": secs, "rows_per_s": read / secs, "read": read, "kept": kept,
            "sampled": sampled, "peak_rss_mb": _rss_mb(), "rss_after_imports_mb": base}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=150_000)
    ap.add_argument("--sample", type=int, default=400)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker[0], a.worker[1], a.sample)))
        return 0
    from tests.helpers.benchmark_fixtures import write_clevr_questions

    with tempfile.TemporaryDirectory() as tmp:
        path = write_clevr_questions(Path(tmp) / "questions" / "CLEVR_val_questions.json", a.rows)
        size = path.stat().st_size
        out = []
        for kind in ("index", "pandas"):
            r = subprocess.run([sys.executable, __file__, "--worker", kind, str(path), "--sample", str(a.sample)],
                               capture_output=True, text=True, check=True)
            out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    if a.json:
        print(json.dumps({"rows": a.rows, "file_mb": size / 2**20, "results": out}))
        return 0
    print(f"CLEVR-shaped questions file: {a.rows:,} questions, {size / 2**20:.0f} MB; sample {a.sample} "
          "(yes/no family)")
    print(f"{'reader':8s} {'seconds':>8s} {'rows/s':>10s} {'kept':>8s} {'sampled':>8s} {'peak RSS MB':>12s} "
          f"{'rise MB':>8s}")
    for r in out:
        print(f"{r['reader']:8s} {r['seconds']:8.2f} {r['rows_per_s']:10,.0f} {r['kept']:8,d} {r['sampled']:8d} "
              f"{r['peak_rss_mb']:12.0f} {r['peak_rss_mb'] - r['rss_after_imports_mb']:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

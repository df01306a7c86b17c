"""Sharded extraction over 2 CPU processes (``accelerate launch``, gloo on localhost) equals a single-process run.

Select with ``pytest -k distributed``. Uses a tiny random Qwen2-VL (M-RoPE, image-only processor) so the
whole family path runs in every rank.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sn_core.config import SearchConfig
from sn_core.activations import extract
from sn_core.models import load_model
from sn_core.search.run import resolve_task, run_search
from sn_core.models.tiny import save_tiny_vlm

ACCELERATE = Path(sys.executable).with_name("accelerate")


def _launch(args: list[str], env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--num_cpu_threads_per_process", "1",
           "-m", "sn_core.cli.distributed", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=Path(__file__).resolve().parents[2])


@pytest.mark.skipif(not ACCELERATE.exists(), reason="accelerate's launcher is not installed beside this python")
def test_distributed_two_processes_equal_single_process(tmp_path):
    folder = save_tiny_vlm("qwen2_vl", tmp_path / "tiny-qwen2-vl")
    dist_root, single_root = tmp_path / "dist-store", tmp_path / "single-store"
    # 150 examples, all used (test split = the rest) -> 3 chunks of <= 64: rank 0 takes two, rank 1 one.
    cfg = SearchConfig(model=str(folder), task="shapes-color", n_examples=150, probe_per_class=4,
                       sites=("mlp", "resid"), baselines=False, batch_size=8, device="cpu")
    env = {**os.environ, "SN_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = _launch(["--model", str(folder), "--task", "shapes-color", "--n-examples", "150",
                    "--probe-per-class", "4", "--site", "mlp", "resid", "--no-baselines", "--batch-size", "8",
                    "--device", "cpu", "--root", str(dist_root), "--search"], env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    reports = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(reports) == 1, proc.stdout  # only the main process prints
    report = reports[0]
    assert report["n_processes"] == 2 and report["n_examples"] == 150 and not report["extraction_cache_hit"]
    assert "[rank 0] extract" in proc.stderr and "[rank 1] extract" in proc.stderr, "both ranks must extract"
    # the search on the main process was served the sharded extraction from the store
    assert report["search"]["extraction_cache_hit"] is True

    # single process, same settings -> same key, same values
    loaded = load_model(str(folder))
    task = resolve_task(cfg)
    single = extract(loaded, task, sites=("mlp", "resid"), layers=(0, 1), batch_size=8, root=single_root)
    assert single.key == report["key"]
    from sn_core.store.cache import ActivationStore

    merged = ActivationStore(report["key"], root=dist_root)
    assert merged.is_complete() and merged.finished_chunks() == [0, 1, 2]
    assert merged.meta()["n_processes"] == 2
    for kind in ("mlp", "resid"):
        for layer in (0, 1):
            name = f"blocks.{layer}.{'mlp.hook_post' if kind == 'mlp' else 'hook_resid_post'}"
            a, b = merged.read(name), single.get(kind, layer)
            assert a.shape == b.shape == (150, 64 if kind == "mlp" else 32)
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
    # and a search on the merged store in this process is a cache hit with the same top neuron
    res = run_search(cfg, loaded=loaded, root=dist_root)
    assert res.summary.sn_neuron_id == report["search"]["sn_neuron_id"]

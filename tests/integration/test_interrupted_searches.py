"""Interrupted and concurrent searches through the real CLI (``python -m sn_core search``) in subprocesses.

- A search killed with SIGKILL once some activation chunks are on disk resumes on the next run (finished chunks
  are not recomputed) and gives exactly the result of an uninterrupted run in another fresh store.
- A chunk corrupted on disk is detected by the next search that needs the activations, recomputed, and the
  result is again exactly the uninterrupted one.
- Two searches with the same key started at once (two processes, one store) both finish with equal results and
  leave a store that verifies.

The model is a snapshot copy of the demo model taken when the module starts, so a checkpoint written into
``assets/demo-vlm`` mid-run cannot change the weights between the runs compared here. Accuracy is irrelevant:
only equality between runs is asserted. 136 examples = 3 chunks (64, 64, 8: the extraction chunk size is 64).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sn_core import DEMO_MODEL_DIR, REPO_DIR

pytestmark = pytest.mark.reliability

N_EXAMPLES, CHUNK = 136, 64
N_CHUNKS = -(-N_EXAMPLES // CHUNK)
TIMEOUT = 600  # per subprocess; generous because CI machines may be shared


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    if not (DEMO_MODEL_DIR / "config.json").is_file():
        pytest.skip("demo model missing (assets/demo-vlm)")
    dest = tmp_path_factory.mktemp("demo-snapshot") / "demo-vlm"
    shutil.copytree(DEMO_MODEL_DIR, dest)
    return dest


def _cmd(model_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sn_core", "search", "--model", str(model_dir), "--task", "shapes-color",
            "--layers", "0", "1", "--n-examples", str(N_EXAMPLES), "--probe-per-class", "6", "--no-baselines",
            "--batch-size", "16", "--json", "--quiet", *extra]


def _env(cache: Path) -> dict:
    env = dict(os.environ, SN_CACHE_DIR=str(cache), PYTHONUNBUFFERED="1")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def _start(model_dir: Path, cache: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(_cmd(model_dir, *extra), cwd=REPO_DIR, env=_env(cache), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, f"exit {proc.returncode}: {err[-2000:]}"
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


def _run(model_dir: Path, cache: Path, *extra: str) -> dict:
    return _finish(_start(model_dir, cache, *extra))


def _extraction_stores(cache: Path):
    """The activation stores under ``cache`` (the search store has no chunks folder)."""
    from sn_core.store.cache import ActivationStore

    return [ActivationStore(d.name, root=cache) for d in cache.iterdir() if (d / "chunks").is_dir()]


def _scores(cache: Path, key: str) -> np.ndarray:
    from sn_core.search.run import SearchResult

    return SearchResult.load(key, root=cache).scores("mlp")


RESULT_FIELDS = ("sn_neuron_id", "sn_test_accuracy", "sn_probe_accuracy", "null_probe_accuracy", "n_probe",
                 "n_test", "weights_hash", "layers")


@pytest.fixture(scope="module")
def reference(model_dir, tmp_path_factory):
    """Two identical searches started at once in one fresh store: (cache, [summary, summary])."""
    cache = tmp_path_factory.mktemp("reference")
    procs = [_start(model_dir, cache), _start(model_dir, cache)]
    return cache, [_finish(p) for p in procs]


def test_reliability_two_concurrent_searches_same_key(reference):
    cache, (a, b) = reference
    assert a["key"] == b["key"]
    for f in RESULT_FIELDS:
        assert a[f] == b[f], f
    # The store lock serialised the extraction: one process computed it; the other found it complete (or, when it
    # started late, found the whole search finished and reopened it: a search cache hit extracts nothing either).
    assert sorted([a["extraction_cache_hit"], b["extraction_cache_hit"]]) == [False, True]
    # ... and the whole search: the second waited for the first and reopened its result (no second scoring or
    # baselines run)
    assert sorted([a["cache_hit"], b["cache_hit"]]) == [False, True]
    (ext,) = _extraction_stores(cache)
    assert ext.is_complete() and ext.finished_chunks() == list(range(N_CHUNKS))
    for i in range(N_CHUNKS):
        ext.read_chunk(i)  # every chunk verifies against its checksum
    leftovers = [p for p in cache.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, leftovers
    d_mlp = json.loads((DEMO_MODEL_DIR / "config.json").read_text())["text_config"]["intermediate_size"]
    np.testing.assert_array_equal(_scores(cache, a["key"]).shape, (2, d_mlp))


def _kill_after_first_chunk(proc: subprocess.Popen, cache: Path) -> None:
    """SIGKILL ``proc`` as soon as one activation chunk's manifest is on disk."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the search ended (exit {proc.returncode}) before it could be killed: "
                        f"{proc.stderr.read()[-2000:]}")
        if any(cache.glob("*/chunks/chunk-*.json")):
            proc.send_signal(signal.SIGKILL)
            proc.wait(60)
            return
        time.sleep(0.01)
    proc.kill()
    pytest.fail("no chunk appeared in time")


def test_reliability_sigkill_mid_search_resumes_to_the_same_result(model_dir, reference, tmp_path):
    ref_cache, (ref, _) = reference
    cache = tmp_path / "killed"
    proc = _start(model_dir, cache)
    _kill_after_first_chunk(proc, cache)
    assert proc.returncode == -signal.SIGKILL
    (ext,) = _extraction_stores(cache)
    done = ext.finished_chunks()
    assert not ext.is_complete() and 1 <= len(done) < N_CHUNKS, done
    kept = {i: (ext.path / "chunks" / f"chunk-{i:06d}.safetensors").stat().st_ino for i in done}

    resumed = _run(model_dir, cache)
    assert resumed["cache_hit"] is False and resumed["extraction_cache_hit"] is False
    for f in RESULT_FIELDS:
        assert resumed[f] == ref[f], f
    assert resumed["key"] == ref["key"]
    np.testing.assert_array_equal(_scores(cache, resumed["key"]), _scores(ref_cache, ref["key"]))
    # The chunks finished before the kill were reused, not recomputed (a rewrite replaces the file's inode).
    for i, ino in kept.items():
        assert (ext.path / "chunks" / f"chunk-{i:06d}.safetensors").stat().st_ino == ino, f"chunk {i} recomputed"
    assert ext.is_complete() and ext.finished_chunks() == list(range(N_CHUNKS))
    # A SIGKILL can leave at most the temporary file of the chunk that was being written; it never counts as a
    # chunk and never shadows one.
    tmp = [p.name for p in (ext.path / "chunks").iterdir() if p.name.endswith(".tmp")]
    assert len(tmp) <= 2, tmp


def test_reliability_corrupted_chunk_is_detected_and_recomputed(model_dir, reference, tmp_path):
    ref_cache, (ref, _) = reference
    cache = tmp_path / "corrupt"
    shutil.copytree(ref_cache, cache)
    (ext,) = _extraction_stores(cache)
    victim = ext.path / "chunks" / "chunk-000001.safetensors"
    data = bytearray(victim.read_bytes())
    for pos in range(len(data) // 2, len(data) // 2 + 64):  # flip bytes inside the float data: same size
        data[pos] ^= 0xFF
    victim.write_bytes(bytes(data))
    old_ino = victim.stat().st_ino

    # A search with other settings over the same activations (k=3 changes the search key, not the extraction).
    other = _run(model_dir, cache, "--k", "3")
    assert other["key"] != ref["key"] and other["extraction_cache_hit"] is False  # the chunk was recomputed
    assert other["sn_neuron_ids"][0] == ref["sn_neuron_id"]
    np.testing.assert_array_equal(_scores(cache, other["key"]), _scores(ref_cache, ref["key"]))
    assert victim.stat().st_ino != old_ino
    assert ext.finished_chunks() == list(range(N_CHUNKS))
    np.testing.assert_array_equal(ext.read_chunk(1)["blocks.0.mlp.hook_post"],
                                  _extraction_stores(ref_cache)[0].read_chunk(1)["blocks.0.mlp.hook_post"])

    # The last chunk deleted outright (e.g. by hand) is recomputed too, instead of the store reading short.
    (ext.path / "chunks" / f"chunk-{N_CHUNKS - 1:06d}.safetensors").unlink()
    again = _run(model_dir, cache, "--k", "2")
    assert again["sn_neuron_ids"][0] == ref["sn_neuron_id"]
    np.testing.assert_array_equal(_scores(cache, again["key"]), _scores(ref_cache, ref["key"]))

"""Resuming an extraction over a damaged store: every chunk it trusts is verified, and every bad or missing chunk
is recomputed in the same run.

A finished store with one chunk corrupted (bytes flipped, same size) and another deleted is repaired by one
``extract`` call (it used to skip the corrupt chunk because the missing one made the store incomplete, then fail
reading it: "corrupt ... rerun", and only a second run succeeded). The values equal the undamaged ones bit for
bit, and the intact chunks are not rewritten. The same holds for an unfinished store (no ``complete.json``).
Runs on the tiny random LLaVA of ``conftest.py``: 40 examples in chunks of 8 = 5 chunks.
"""
from __future__ import annotations

import numpy as np
import pytest

from sn_core.data import get_task
from sn_core.activations import extract

pytestmark = pytest.mark.reliability

N, CHUNK = 40, 8
SITES, LAYERS = ("mlp",), (0, 1)


@pytest.fixture(scope="module")
def task():
    return get_task("shapes-color", N, seed=5)


def _extract(loaded, task, root):
    return extract(loaded, task, sites=SITES, layers=LAYERS, batch_size=8, chunk_size=CHUNK, root=root)


def _values(ext) -> dict:
    return {L: ext.get("mlp", L).copy() for L in LAYERS}


def _chunk(ext, i):
    return ext.store.path / "chunks" / f"chunk-{i:06d}.safetensors"


def _flip(path):
    data = bytearray(path.read_bytes())
    for pos in range(len(data) // 2, len(data) // 2 + 16):  # inside the float data: same size, other values
        data[pos] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("complete", [True, False], ids=["finished-store", "unfinished-store"])
def test_reliability_corrupt_and_missing_chunks_are_all_recomputed_in_one_run(tiny_llava, task, tmp_path, complete):
    ref = _extract(tiny_llava, task, tmp_path / "ref")
    want = _values(ref)

    root = tmp_path / "damaged"
    first = _extract(tiny_llava, task, root)
    assert first.store.finished_chunks() == list(range(N // CHUNK))
    if not complete:
        (first.store.path / "complete.json").unlink()
    _flip(_chunk(first, 1))
    _chunk(first, 3).unlink()
    intact = {i: _chunk(first, i).stat().st_ino for i in (0, 2, 4)}

    again = _extract(tiny_llava, task, root)  # one run: no CorruptShardError, nothing left to rerun
    assert again.cache_hit is False
    got = _values(again)
    for L in LAYERS:
        np.testing.assert_array_equal(got[L], want[L])
    assert again.store.is_complete() and again.store.finished_chunks() == list(range(N // CHUNK))
    for i in range(N // CHUNK):
        again.store.read_chunk(i)  # every chunk verifies
    for i, ino in intact.items():
        assert _chunk(again, i).stat().st_ino == ino, f"intact chunk {i} was recomputed"

    # A third run finds everything intact: a cache hit.
    assert _extract(tiny_llava, task, root).cache_hit is True

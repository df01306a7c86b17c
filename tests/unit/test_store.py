"""``sn_core.store.cache``: keys, round trips, atomic writes, checksum detection of corrupted chunks, resume, the lock."""
import json
import multiprocessing as mp
import os
import time

import numpy as np
import pytest
from filelock import Timeout

from sn_core.store import cache as store_mod
from sn_core.store.cache import ActivationStore, CorruptShardError, content_key, default_root, list_stores

SITE = "blocks.3.mlp.hook_post"


def test_content_key_canonical_and_sensitive():
    a = content_key(model_id="demo", layers=(0, 1), split={"seed": 0, "probe": 20})
    b = content_key(split={"probe": 20, "seed": np.int64(0)}, layers=[0, 1], model_id="demo")
    assert a == b and len(a) == 64 and int(a, 16) >= 0
    assert a != content_key(model_id="demo", layers=(0, 2), split={"seed": 0, "probe": 20})
    with pytest.raises(TypeError, match=r"parts.obj: cannot hash/serialise object"):
        content_key(obj=object())
    with pytest.raises(TypeError, match="non-finite float"):
        content_key(x=float("nan"))
    with pytest.raises(ValueError, match="at least one part"):
        content_key()


def test_default_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SN_CACHE_DIR", str(tmp_path / "c"))
    assert default_root() == tmp_path / "c"
    assert ActivationStore("k1").path == tmp_path / "c" / "k1"
    monkeypatch.delenv("SN_CACHE_DIR")
    assert default_root().name == "super-neuron-explorer"


@pytest.mark.parametrize("key", ["", "../x", "a/b", "x" * 129, 5])
def test_bad_keys(tmp_path, key):
    with pytest.raises(ValueError, match="store key must be"):
        ActivationStore(key, root=tmp_path)


def test_chunks_round_trip_and_resume(tmp_path):
    st = ActivationStore("k", root=tmp_path)
    a0 = np.arange(12, dtype=np.float16).reshape(3, 4)
    a1 = -np.arange(8, dtype=np.float16).reshape(2, 4)
    st.write_chunk(1, {SITE: a1, "labels": np.array([0, 1], np.int64)})
    assert st.finished_chunks() == [1]
    with pytest.raises(FileNotFoundError, match=r"missing chunks \[0\]"):
        st.read(SITE)
    st.write_chunk(0, {SITE: a0, "labels": np.array([1, 1, 0], np.int64)})
    assert st.finished_chunks() == [0, 1] and st.chunk_names() == ["blocks.3.mlp.hook_post", "labels"]
    out = st.read(SITE)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, np.concatenate([a0, a1]))
    np.testing.assert_array_equal(st.read("labels"), [1, 1, 0, 0, 1])
    with pytest.raises(KeyError, match="has no array 'blocks.4.mlp.hook_post'"):
        st.read("blocks.4.mlp.hook_post")
    # a second object on the same key sees the same chunks (resume after a restart)
    assert ActivationStore("k", root=tmp_path).finished_chunks() == [0, 1]


def test_write_validation(tmp_path):
    st = ActivationStore("k", root=tmp_path)
    with pytest.raises(ValueError, match="same leading"):
        st.write_chunk(0, {"a": np.zeros((2, 3)), "b": np.zeros((3, 3))})
    with pytest.raises(TypeError, match="dtype <U1"):
        st.write_chunk(0, {"a": np.array(["x"])})
    with pytest.raises(ValueError, match="array name must be"):
        st.write_chunk(0, {"a/b": np.zeros(2)})
    with pytest.raises(ValueError, match="chunk index must be an integer >= 0"):
        st.write_chunk(-1, {"a": np.zeros(2)})
    assert st.finished_chunks() == []


def test_arrays_json_complete_and_listing(tmp_path):
    st = ActivationStore(content_key(x=1), root=tmp_path)
    st.write_array("scores.mlp", np.linspace(0, 1, 5, dtype=np.float32))
    np.testing.assert_array_equal(st.read_array("scores.mlp"), np.linspace(0, 1, 5, dtype=np.float32))
    assert st.has_array("scores.mlp") and not st.has_array("other")
    st.write_json("summary", {"acc": np.float32(0.5), "layers": np.arange(3)})
    assert st.read_json("summary") == {"acc": 0.5, "layers": [0, 1, 2]}
    with pytest.raises(FileNotFoundError, match="no JSON document 'nothing'"):
        st.read_json("nothing")
    assert not st.is_complete()
    other = ActivationStore("other", root=tmp_path)
    other.write_chunk(0, {"a": np.zeros((1, 2), np.float32)})
    st.mark_complete({"task": "shapes-color"})
    assert st.is_complete() and st.meta() == {"task": "shapes-color"}
    rows = {r["key"]: r for r in list_stores(tmp_path)}
    assert rows[st.key]["complete"] and rows[st.key]["meta"] == {"task": "shapes-color"}
    assert rows["other"]["n_chunks"] == 1 and not rows["other"]["complete"]
    assert list_stores(tmp_path / "none") == []


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    st = ActivationStore("k", root=tmp_path)
    st.write_chunk(0, {"a": np.ones((2, 2), np.float32)})

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(store_mod.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        st.write_chunk(0, {"a": np.zeros((2, 2), np.float32)})
    with pytest.raises(OSError, match="disk full"):
        st.write_chunk(1, {"a": np.zeros((2, 2), np.float32)})
    monkeypatch.undo()
    leftovers = [p.name for p in (st.path / "chunks").iterdir()]
    assert not [n for n in leftovers if n.endswith(".tmp")], leftovers
    # chunk 1 never finished; chunk 0's rewrite failed before its manifest: it is not "finished" and is redone
    assert st.finished_chunks() == []
    assert not (st.path / "chunks" / "chunk-000001.safetensors").exists()
    st.write_chunk(0, {"a": np.full((2, 2), 3, np.float32)})
    np.testing.assert_array_equal(st.read("a"), np.full((2, 2), 3))


def test_crash_between_data_and_manifest_is_not_finished(tmp_path):
    st = ActivationStore("k", root=tmp_path)
    store_mod.atomic_write_bytes(st.path / "chunks" / "chunk-000000.safetensors", b"half-done")
    assert st.finished_chunks() == []


@pytest.mark.parametrize("where", ["data", "header", "manifest"])
def test_corrupted_chunk_detected_and_deleted(tmp_path, where):
    st = ActivationStore("k", root=tmp_path)
    st.write_chunk(0, {SITE: np.arange(40, dtype=np.float32).reshape(10, 4)})
    st.write_chunk(1, {SITE: np.arange(40, dtype=np.float32).reshape(10, 4)})
    data = st.path / "chunks" / "chunk-000001.safetensors"
    if where == "manifest":
        (st.path / "chunks" / "chunk-000001.json").write_text("{trunc")
    else:
        raw = bytearray(data.read_bytes())
        pos = len(raw) - 5 if where == "data" else 10
        raw[pos] ^= 0x5A  # flip bits on disk
        data.write_bytes(bytes(raw))
    with pytest.raises(CorruptShardError, match=r"chunk-000001\.safetensors.*(sha256 does not match|not valid JSON)"):
        st.read(SITE)
    assert st.finished_chunks() == [0] and not data.exists()  # deleted: a resume recomputes it
    st.write_chunk(1, {SITE: np.ones((10, 4), np.float32)})
    assert st.read(SITE).shape == (20, 4)


def test_corrupted_whole_array_and_json(tmp_path):
    st = ActivationStore("k", root=tmp_path)
    st.write_array("scores", np.arange(100, dtype=np.float32))
    p = st.path / "arrays" / "scores.safetensors"
    raw = bytearray(p.read_bytes())
    raw[-1] ^= 1
    p.write_bytes(bytes(raw))
    with pytest.raises(CorruptShardError, match="scores.safetensors"):
        st.read_array("scores")
    assert not st.has_array("scores")
    st.write_json("doc", {"a": 1})
    (st.path / "json" / "doc.json").write_text('{"a": ')
    with pytest.raises(CorruptShardError, match="doc.json: not valid JSON"):
        st.read_json("doc")


# ------------------------------------------------------------------------------------------- two processes
def _writer(root, tag, n_rounds, q):
    try:
        st = ActivationStore("shared", root=root)
        for r in range(n_rounds):
            for i in range(3):
                st.write_chunk(i, {"a": np.full((16, 64), tag * 1000 + r, np.float32)})
        q.put(("ok", tag))
    except BaseException as err:  # report to the parent instead of dying silently
        q.put(("error", repr(err)))


def test_two_processes_same_key_do_not_corrupt(tmp_path):
    """Two writers rewrite the same chunks while this process reads them: every read verifies, none is mixed."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    rounds = 40
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), tag, rounds, q)) for tag in (1, 2)]
    for p in procs:
        p.start()
    st = ActivationStore("shared", root=tmp_path)
    reads = 0
    while any(p.is_alive() for p in procs) and reads < 2000:
        for i in st.finished_chunks():
            try:
                a = st.read_chunk(i)["a"]  # checksum verified; raises CorruptShardError on a torn pair
            except FileNotFoundError:  # between a rewrite's manifest removal and its new manifest
                continue
            assert len(np.unique(a)) == 1, "a chunk mixes two writers"
            reads += 1
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(r[0] == "ok" for r in results), results
    assert st.finished_chunks() == [0, 1, 2]
    last = {1000.0 + rounds - 1, 2000.0 + rounds - 1}
    for i in range(3):
        a = st.read_chunk(i)["a"]
        assert len(np.unique(a)) == 1 and a[0, 0] in last  # one writer's last round, never a mix
    assert not [p for p in (st.path / "chunks").iterdir() if p.name.endswith(".tmp")]


def _hold_lock(root, ready, release):
    st = ActivationStore("locked", root=root)
    with st.lock():
        ready.set()
        release.wait(30)


def test_lock_excludes_other_process_and_is_reentrant(tmp_path):
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    p.start()
    try:
        assert ready.wait(60)
        st = ActivationStore("locked", root=tmp_path)
        with pytest.raises(Timeout):
            with st.lock(timeout=0.2):
                pass
    finally:
        release.set()
        p.join(30)
    st = ActivationStore("locked", root=tmp_path)
    with st.lock(timeout=5):
        st.write_chunk(0, {"a": np.zeros((1, 1), np.float32)})  # reentrant inside the held lock
        with ActivationStore("locked", root=tmp_path).lock(timeout=1):  # and across objects for the same key
            pass
    assert st.finished_chunks() == [0]


def test_manifest_records_checksum_and_shapes(tmp_path):
    st = ActivationStore("k", root=tmp_path)
    st.write_chunk(4, {SITE: np.zeros((3, 5), np.float16)})
    meta = json.loads((st.path / "chunks" / "chunk-000004.json").read_text())
    assert meta["chunk"] == 4 and meta["n_rows"] == 3 and len(meta["sha256"]) == 64
    assert meta["arrays"][SITE] == {"shape": [3, 5], "dtype": "float16"}
    assert os.path.getsize(st.path / "chunks" / "chunk-000004.safetensors") == meta["bytes"]


def test_looking_up_a_key_creates_nothing(tmp_path):
    st = ActivationStore("never-written", root=tmp_path)
    assert st.finished_chunks() == [] and not st.exists() and not st.is_complete()
    with pytest.raises(FileNotFoundError, match="has no finished chunks"):
        st.read(SITE)
    assert list_stores(tmp_path) == [] and not (tmp_path / "never-written").exists()


def test_reading_sites_one_by_one_hashes_each_chunk_once(tmp_path, monkeypatch):
    st = ActivationStore("k", root=tmp_path)
    for i in range(3):
        st.write_chunk(i, {f"blocks.{L}.mlp.hook_post": np.full((4, 8), 10 * i + L, np.float32) for L in range(5)})
    calls = []
    real = store_mod.sha256_bytes
    monkeypatch.setattr(store_mod, "sha256_bytes", lambda b: calls.append(len(b)) or real(b))
    for L in range(5):
        np.testing.assert_array_equal(st.read(f"blocks.{L}.mlp.hook_post")[:, 0], np.repeat([L, 10 + L, 20 + L], 4))
    assert len(calls) == 3  # one full hash per chunk, then partial reads of verified, unchanged files
    # a file changed after it was verified is hashed again, and the change is caught (the sleep keeps the in-place
    # write from landing in the same coarse mtime tick as the original write)
    time.sleep(0.05)
    p = st.path / "chunks" / "chunk-000002.safetensors"
    raw = bytearray(p.read_bytes())
    raw[-3] ^= 0xFF
    p.write_bytes(bytes(raw))
    with pytest.raises(CorruptShardError, match="chunk-000002"):
        st.read("blocks.0.mlp.hook_post")
    # a rewrite by another writer (new file) is read, verified, with its new content
    ActivationStore("k", root=tmp_path).write_chunk(2, {"blocks.0.mlp.hook_post": np.zeros((4, 8), np.float32)})
    np.testing.assert_array_equal(st.read("blocks.0.mlp.hook_post")[8:], 0)

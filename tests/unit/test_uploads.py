"""Saving task uploads (``sn_core.data.uploads``): identical uploads at the same moment never collide, a folder is
reused only when it is complete, an incomplete leftover is replaced, and ZIPs are checked before extraction.

The race reproduces the hostile test: two processes saving the same ZIP into a fresh cache, round after round,
started together by a barrier (before per-call temporary folders and the atomic publish, about half the calls
failed with ``Directory not empty`` / ``No such file`` and some rounds left a folder holding only an empty
sub-folder).
"""
from __future__ import annotations

import io
import multiprocessing as mp
import zipfile
from pathlib import Path

import pytest

from sn_core.data import uploads as U

pytestmark = pytest.mark.reliability

ROUNDS = 40
N_CLASSES, PER_CLASS = 3, 40


def _png(color) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buf, format="PNG")
    return buf.getvalue()


def _class_zip() -> bytes:
    """A ZIP of one top folder holding one subfolder of images per class (many entries, so extraction takes a
    while and two calls overlap)."""
    buf = io.BytesIO()
    colors = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, c in list(colors.items())[:N_CLASSES]:
            for i in range(PER_CLASS):
                zf.writestr(f"colours/{name}/{i:03d}.png", _png(c))
    return buf.getvalue()


def _check_folder(folder: Path) -> None:
    """The published folder is complete: every class, every image, and its task is found."""
    kind, found = U.find_task_source(folder)
    assert kind == "folder" and Path(found).name == "colours", (kind, found)
    classes = sorted(p.name for p in Path(found).iterdir() if p.is_dir())
    assert classes == ["blue", "green", "red"], classes
    for c in classes:
        assert len(list((Path(found) / c).glob("*.png"))) == PER_CLASS, c
    assert U.is_complete(folder)


def _upload_rounds(base: str, data: bytes, rounds: int, barrier, results) -> None:
    for i in range(rounds):
        barrier.wait(timeout=120)
        try:
            folder = U.save_task_upload([("colours.zip", data)], root=Path(base) / f"r{i}")
            _check_folder(folder)
            results.put((i, "ok", str(folder)))
        except Exception as e:  # noqa: BLE001 - every failure is reported to the parent
            results.put((i, "error", f"{type(e).__name__}: {e}"))


def test_reliability_two_processes_uploading_the_same_zip_never_collide(tmp_path):
    data = _class_zip()
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_upload_rounds, args=(str(tmp_path), data, ROUNDS, barrier, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    got = [results.get(timeout=300) for _ in range(2 * ROUNDS)]
    for p in procs:
        p.join(60)
    failed = [r for r in got if r[1] != "ok"]
    assert not failed, f"{len(failed)} of {2 * ROUNDS} calls failed, e.g. {failed[:3]}"
    by_round: dict[int, set] = {}
    for i, _, folder in got:
        by_round.setdefault(i, set()).add(folder)
    assert all(len(v) == 1 for v in by_round.values()), "both calls of a round must return the same folder"
    for i in range(ROUNDS):  # nothing but the published folder is left: no temporary or stale folders
        uploads = tmp_path / f"r{i}" / "uploads"
        left = sorted(p.name for p in uploads.iterdir() if p.is_dir())
        assert len(left) == 1, left
        _check_folder(uploads / left[0])


def test_reliability_threads_uploading_the_same_zip_never_collide(tmp_path):
    """The same within one server process (two app sessions are two threads)."""
    import threading

    data = _class_zip()
    for i in range(10):
        barrier, out = threading.Barrier(3), []

        def run():
            barrier.wait()
            try:
                out.append(U.save_task_upload([("colours.zip", data)], root=tmp_path / f"t{i}"))
            except Exception as e:  # noqa: BLE001
                out.append(e)
        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert all(isinstance(o, Path) for o in out), out
        assert len(set(out)) == 1
        _check_folder(out[0])


def test_reliability_incomplete_leftover_is_replaced(tmp_path):
    """A folder left by an interrupted or older save (here: only an empty sub-folder, as the race left) is never
    reused: the next upload of the same file replaces it."""
    data = _class_zip()
    folder = U.save_task_upload([("colours.zip", data)], root=tmp_path)
    U.shutil.rmtree(folder)
    (folder / "colours").mkdir(parents=True)  # the leftover the race produced
    assert not U.is_complete(folder)
    again = U.save_task_upload([("colours.zip", data)], root=tmp_path)
    assert again == folder
    _check_folder(again)


def test_reliability_complete_folder_is_reused_unchanged(tmp_path):
    data = _class_zip()
    folder = U.save_task_upload([("colours.zip", data)], root=tmp_path)
    stamp = (folder / U.COMPLETE_MARKER).stat().st_mtime_ns
    assert U.save_task_upload([("colours.zip", data)], root=tmp_path) == folder
    assert (folder / U.COMPLETE_MARKER).stat().st_mtime_ns == stamp


def test_reliability_failed_upload_leaves_nothing(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("task.jsonl", b"{}")
        zf.writestr("../escaped.png", b"x")
    with pytest.raises(ValueError, match="points outside the archive"):
        U.save_task_upload([("evil.zip", buf.getvalue())], root=tmp_path)
    assert not [p for p in (tmp_path / "uploads").iterdir()], "no temporary or partial folder is left"
    assert not list(tmp_path.rglob("escaped.png"))


def test_uploaded_file_objects_and_tuples_are_the_same_upload(tmp_path):
    class Uploaded:  # the shape of Streamlit's UploadedFile
        def __init__(self, name, data):
            self.name, self._data = name, data

        def getvalue(self):
            return self._data

    data = _class_zip()
    a = U.save_task_upload([Uploaded("colours.zip", data)], root=tmp_path)
    b = U.save_task_upload([("colours.zip", data)], root=tmp_path)
    assert a == b and a.parent == U.uploads_dir(tmp_path)


def test_marker_is_not_part_of_the_task(tmp_path):
    """The completeness marker never turns a ZIP of one top folder into a folder with a stray file."""
    folder = U.save_task_upload([("colours.zip", _class_zip())], root=tmp_path)
    kind, found = U.find_task_source(folder)
    assert (kind, Path(found).name) == ("folder", "colours")

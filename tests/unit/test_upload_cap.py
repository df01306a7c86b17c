"""The upload cache's total cap (``sn_core.data.upload_cap``): least recently used idle uploads are evicted to make
room; uploads used within the last hour are kept and a new upload that cannot fit is refused, leaving nothing."""
from __future__ import annotations

import os
import time

import pytest

from sn_core.data import upload_cap
from sn_core.data import uploads as U

KB = 1024


def _upload(tag: str, size_kb: int = 400):
    return [("task.jsonl", f'{{"tag": "{tag}"}}\n'.encode()), ("a.bin", (tag.encode() * size_kb * KB)[:size_kb * KB])]


def _age(folder, hours: float):
    t = time.time() - hours * 3600
    os.utime(folder, (t, t))


@pytest.fixture(autouse=True)
def one_mb_cap(monkeypatch):
    monkeypatch.setenv(upload_cap.ENV_MAX_TOTAL_MB, "1")


@pytest.mark.security
def test_security_idle_uploads_are_evicted_oldest_first(tmp_path):
    a = U.save_task_upload(_upload("a"), root=tmp_path)
    b = U.save_task_upload(_upload("b"), root=tmp_path)
    _age(a, 3)
    _age(b, 2)
    c = U.save_task_upload(_upload("c"), root=tmp_path)  # 3 x 400 KB > 1 MB: the oldest (a) goes
    assert not a.exists() and U.is_complete(b) and U.is_complete(c)
    d = U.save_task_upload(_upload("d"), root=tmp_path)  # b is idle (2 h): it goes; c is recent: kept
    assert not b.exists() and U.is_complete(c) and U.is_complete(d)
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir() if not p.name.startswith(".")) == \
        sorted([c.name, d.name])
    assert not [p for p in (tmp_path / "uploads").iterdir() if p.suffix in (".tmp", ".evicted")]


@pytest.mark.security
def test_security_upload_that_cannot_fit_is_refused_and_recent_uploads_are_kept(tmp_path):
    a = U.save_task_upload(_upload("a"), root=tmp_path)
    b = U.save_task_upload(_upload("b"), root=tmp_path)
    with pytest.raises(ValueError, match="the upload cache is full: .* used within the last 60 minutes"):
        U.save_task_upload(_upload("c"), root=tmp_path)
    assert U.is_complete(a) and U.is_complete(b)
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir() if not p.name.startswith(".")) == \
        sorted([a.name, b.name])  # nothing of the refused upload is left
    with pytest.raises(ValueError, match="more than the 1 MB the upload cache holds"):
        U.save_task_upload(_upload("huge", 1100), root=tmp_path)


@pytest.mark.security
def test_security_reusing_an_upload_marks_it_used(tmp_path):
    a = U.save_task_upload(_upload("a"), root=tmp_path)
    b = U.save_task_upload(_upload("b"), root=tmp_path)
    _age(a, 3)
    _age(b, 2)
    assert U.save_task_upload(_upload("a"), root=tmp_path) == a  # the same files again: a is in use now
    U.save_task_upload(_upload("c"), root=tmp_path)
    assert U.is_complete(a) and not b.exists()
    _age(a, 3)
    U.find_task_source(a)  # a search looking for its task marks it used too
    assert time.time() - a.stat().st_mtime < 60

"""A damaged listing entry of one store never breaks the listing of the others."""
import pytest

from sn_core.store.cache import ActivationStore, list_stores

pytestmark = pytest.mark.reliability


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b"[1, 2, 3]", b"{not json"])
def test_reliability_one_unreadable_complete_marker_is_listed_without_meta(tmp_path, content):
    good, bad = ActivationStore("a" * 64, root=tmp_path), ActivationStore("b" * 64, root=tmp_path)
    good.write_json("x", {"v": 1})
    good.mark_complete({"kind": "search", "task": "t"})
    bad.write_json("x", {"v": 1})
    bad.mark_complete({"kind": "search"})
    (bad.path / "complete.json").write_bytes(content)
    rows = {r["key"]: r for r in list_stores(tmp_path)}
    assert rows["a" * 64]["meta"] == {"kind": "search", "task": "t"}
    assert rows["b" * 64]["meta"] == {}


def test_reliability_zip_size_message_uses_the_documented_unit(tmp_path, monkeypatch):
    """The unpacked-size limit reads in the unit the docs use (MB = 2**20 bytes): '3 MB, more than 2 MB'."""
    import io
    import zipfile

    from sn_core.data import uploads

    monkeypatch.setattr(uploads, "MAX_ZIP_BYTES", 2 * 2 ** 20)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * (3 * 2 ** 20))
    with pytest.raises(ValueError, match=r"unpacks to 3 MB, more than 2 MB"):
        uploads.save_task_upload([("task.zip", buf.getvalue())], root=tmp_path)

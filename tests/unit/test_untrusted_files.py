"""Files a user hands to the library that are not what they claim: pickles, binaries, hostile CSV/JSON.

A pickle given as a classifier artifact or as a task manifest must be refused with a clear error and never
unpickled (each pickle here runs ``touch <sentinel>`` if it is loaded). The source-tree scan makes sure no code
path can unpickle a user's file: no ``pickle``/``torch.load``/``joblib``/``trust_remote_code=True`` anywhere in
the shipped code (``sn_core``, the app, benchmarks).
"""
from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path

import pytest

from sn_core import REPO_DIR
from sn_core.classifier.estimator import ArtifactError, SuperNeuronClassifier
from sn_core.data import ManifestError, load_manifest

pytestmark = pytest.mark.security


class _Evil:
    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


@pytest.fixture()
def pickles(tmp_path):
    """{protocol: pickle bytes} for an ASCII (protocol 0) and a binary (protocol 5) pickle, and the sentinel."""
    sentinel = tmp_path / "UNPICKLED"
    return {p: pickle.dumps(_Evil(sentinel), protocol=p) for p in (0, 5)}, sentinel


@pytest.mark.parametrize("suffix", [".json", ".pkl", ".pickle"])
def test_security_pickle_as_classifier_is_refused(tmp_path, pickles, suffix):
    blobs, sentinel = pickles
    for proto, blob in blobs.items():
        path = tmp_path / f"clf-{proto}{suffix}"
        path.write_bytes(blob)
        with pytest.raises(ArtifactError, match=re.escape(path.name)):
            SuperNeuronClassifier.from_json(path)
    assert not sentinel.exists()


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".pkl"])
def test_security_pickle_as_manifest_is_refused(tmp_path, pickles, suffix):
    blobs, sentinel = pickles
    for proto, blob in blobs.items():
        path = tmp_path / f"task-{proto}{suffix}"
        path.write_bytes(blob)
        with pytest.raises(ManifestError, match=re.escape(path.name)):
            load_manifest(path)
    assert not sentinel.exists()


@pytest.mark.parametrize("content,match", [
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "not a UTF-8 text file"),  # an image renamed .csv
    (b"image,question,label\nx.png,q,a\0b\n", "row 1: image file 'x.png' not found"),  # NUL byte
    (b"image,question,label\n" + b"x" * (200 * 1024) + b",q,a\n", "not a valid CSV file"),  # field too large
])
def test_security_binary_or_hostile_csv_is_a_manifest_error(tmp_path, content, match):
    path = tmp_path / "task.csv"
    path.write_bytes(content)
    with pytest.raises(ManifestError, match=match):
        load_manifest(path)


def test_security_manifest_paths_outside_its_folder_are_refused(tmp_path):
    from PIL import Image

    outside = tmp_path / "secret.png"
    Image.new("RGB", (8, 8)).save(outside)
    (tmp_path / "task").mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / "task" / "a.png")
    for raw in ("../secret.png", str(outside), "sub/../../secret.png"):
        rows = [{"image": "a.png", "question": "q", "label": "x"}, {"image": raw, "question": "q", "label": "y"}]
        path = tmp_path / "task" / "m.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows))
        with pytest.raises(ManifestError, match="row 2.*outside the manifest's folder"):
            load_manifest(path)
    # A symlink inside the folder that points outside is refused as well (resolved before the check).
    (tmp_path / "task" / "link.png").symlink_to(outside)
    path.write_text("\n".join(json.dumps(r) for r in [{"image": "a.png", "question": "q", "label": "x"},
                                                      {"image": "link.png", "question": "q", "label": "y"}]))
    with pytest.raises(ManifestError, match="outside the manifest's folder"):
        load_manifest(path)


# ---------------------------------------------------------------------------------------------- source scan
SHIPPED = ["sn_core", "app.py", "sn_app", "app_pages", "bench"]
FORBIDDEN = {
    "pickle": re.compile(r"^\s*(import|from)\s+(c?pickle|dill|shelve|joblib)\b|\b(pickle|dill|joblib)\.loads?\(|"
                         r"read_pickle\(|\bshelve\.open\(", re.M),
    "torch.load": re.compile(r"\btorch\.load\(|\bload\(\s*[^)]*weights_only\s*=\s*False"),
    "allow_pickle": re.compile(r"allow_pickle\s*=\s*True"),
    "trust_remote_code=True": re.compile(r"trust_remote_code\s*=\s*True"),
    "unsafe yaml": re.compile(r"\byaml\.(load|unsafe_load)\("),
}


def _scan(text: str) -> list[str]:
    return [name for name, rx in FORBIDDEN.items() if rx.search(text)]


def test_security_scanner_catches_what_it_looks_for():
    for snippet in ("import pickle\n", "obj = pickle.load(fh)", "torch.load(path)", "np.load(p, allow_pickle=True)",
                    "AutoModel.from_pretrained(p, trust_remote_code=True)", "pd.read_pickle(p)",
                    "from joblib import load", "yaml.load(text)"):
        assert _scan(snippet), snippet
    assert not _scan("load_model(m, trust_remote_code=trust_remote_code)\nnp.load(p)\n# never pickle")


def test_security_no_pickle_torch_load_or_remote_code_in_shipped_code():
    files = []
    for entry in SHIPPED:
        p = REPO_DIR / entry
        assert p.exists(), f"{entry} is listed as shipped code but does not exist"
        files += [p] if p.is_file() else sorted(p.rglob("*.py"))
    assert any(f.name == "loading.py" for f in files) and len(files) > 20
    hits = {str(f.relative_to(REPO_DIR)): found for f in files if (found := _scan(f.read_text(encoding="utf-8")))}
    assert not hits, f"unsafe deserialisation or remote code in shipped code: {hits}"


def test_security_load_model_passes_trust_remote_code_through_only():
    """Every transformers ``from_pretrained`` call in the model loaders passes the caller's flag (default False)."""
    import inspect

    from sn_core.models import load_model

    assert inspect.signature(load_model).parameters["trust_remote_code"].default is False
    for f in sorted((REPO_DIR / "sn_core" / "models").glob("*.py")):
        for m in re.finditer(r"trust_remote_code\s*=\s*([^,)\s]+)", f.read_text()):
            assert m.group(1) in ("trust_remote_code", "False", "bool"), (f.name, m.group(0))


def test_security_streamlit_upload_limit_is_configured():
    import tomllib

    cfg = tomllib.loads(Path(REPO_DIR / ".streamlit" / "config.toml").read_text())
    limit = cfg["server"]["maxUploadSize"]
    assert isinstance(limit, int) and 1 <= limit <= 200
    from sn_core.data.images import MAX_BYTES

    assert MAX_BYTES <= limit * 1024 * 1024  # the image loader never accepts more than the server lets through
    assert cfg["client"]["showErrorDetails"] in ("none", False)  # no tracebacks shown to users

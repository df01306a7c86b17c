"""Shared fixtures of the engine's integration tests: a tiny random LLaVA (3 decoder layers, built from
transformers' config classes by ``sn_core.models.tiny`` and written as a Hugging Face folder, so it loads
through ``load_model`` like a user's checkpoint), the demo model, and an isolated store root."""
from __future__ import annotations

import pytest

from sn_core import DEMO_MODEL_DIR


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory):
    from sn_core.models.tiny import save_tiny_vlm

    return save_tiny_vlm("llava", tmp_path_factory.mktemp("tiny-llava") / "model", n_layers=3, seed=0)


@pytest.fixture(scope="session")
def tiny_llava(tiny_llava_dir):
    from sn_core.models import load_model

    return load_model(str(tiny_llava_dir))


@pytest.fixture(scope="session")
def demo_loaded():
    from sn_core.models import load_model

    if not (DEMO_MODEL_DIR / "config.json").is_file():
        pytest.skip("demo model missing (assets/demo-vlm)")
    return load_model("demo")


@pytest.fixture()
def sn_cache(tmp_path, monkeypatch):
    """A fresh store root for one test (also exported as SN_CACHE_DIR for subprocesses)."""
    root = tmp_path / "sn-cache"
    monkeypatch.setenv("SN_CACHE_DIR", str(root))
    return root

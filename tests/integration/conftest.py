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
def tiny_llava_artifact(tmp_path_factory):
    """``(root, loaded, clf)``: a tiny LLaVA folder ``root/model`` (2 decoder layers), loaded up to layer 0, and a
    one-neuron classifier naming it, saved as ``root/sn.json``. Tests copy what they change."""
    from sn_core.classifier import SuperNeuronClassifier
    from sn_core.models import load_model
    from sn_core.models.tiny import save_tiny_vlm

    root = tmp_path_factory.mktemp("tiny-llava-artifact")
    folder = save_tiny_vlm("llava", root / "model", n_layers=2, seed=0)
    loaded = load_model(str(folder), max_layers=1)
    clf = SuperNeuronClassifier(neurons=("blocks.0.mlp.hook_post[3]",)).fit([[0.0], [1.0], [0.2], [0.9]],
                                                                            ["no", "yes", "no", "yes"])
    clf.meta_ = {"model_id": str(folder), "weights_hash": loaded.weights_hash, "instruction": "Answer with one word."}
    clf.to_json(root / "sn.json")
    return root, loaded, clf


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

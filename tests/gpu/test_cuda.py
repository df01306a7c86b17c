"""The CUDA code paths: every family and the demo model on a GPU (skipped where there is none, as in CI).

CI has no GPU, so these run only on a machine with a CUDA device (``pytest tests/gpu``). They check what the CPU suite cannot:
inputs, hooks and reads land on the right device; fp32 on the GPU reads the CPU's values; early exit on the GPU
equals the GPU's own full forward at that layer, bitwise, and skips later layers; ``device="auto"`` and
``device_map="auto"`` place the model on the GPU; a bf16 search and the early-exit predictor run end to end on the
GPU, and on the trained demo model the Super Neuron found in bf16 on the GPU is accurate and agrees with the CPU.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from sn_core.activations import Trace, read_activations
from sn_core.models import load_model
from sn_core.models.tiny import FAMILIES

# SN_GPU_TEST_DEVICE=cpu runs these checks on the CPU (a dry run of the test code itself, on a machine without a GPU).
DEVICE = os.environ.get("SN_GPU_TEST_DEVICE", "cuda")
ON_GPU = DEVICE.startswith("cuda")
pytestmark = pytest.mark.skipif(ON_GPU and not torch.cuda.is_available(), reason="no CUDA device (CI has none)")

FAMILY_NAMES = sorted(FAMILIES)
SITES = ("mlp", "resid", "attn")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_cuda_fp32_reads_the_cpu_values(family, family_folders, family_images, family_prompts):
    torch.backends.cuda.matmul.allow_tf32 = False
    cpu = load_model(str(family_folders[family]))
    gpu = load_model(str(family_folders[family]), device=DEVICE, dtype="fp32")
    assert next(gpu.model.parameters()).device.type == torch.device(DEVICE).type
    prompts = family_prompts(cpu, 4)
    ref = read_activations(cpu, family_images, prompts, SITES, batch_size=4)
    got = read_activations(gpu, family_images, prompts, SITES, batch_size=4)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], atol=1e-4, rtol=1e-3, err_msg=f"{family} {name}")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_cuda_early_exit_equals_full_forward(family, family_folders, family_images, family_prompts):
    loaded = load_model(str(family_folders[family]), device=DEVICE, dtype="bf16")
    inputs = loaded.encode(family_images[:2], family_prompts(loaded, 2))
    assert all(v.device.type == torch.device(DEVICE).type for v in inputs.values() if isinstance(v, torch.Tensor))
    ran = []
    h = loaded.adapter.layers(loaded.model)[1].register_forward_hook(lambda *a: ran.append(1))
    try:
        with Trace(loaded, [(k, 0) for k in SITES]) as tr:
            early = {k: v.clone() for k, v in tr.run(inputs).items()}
        assert ran == []
        with Trace(loaded, [(k, 0) for k in SITES], stop_after=None) as tr:
            full = {k: v.clone() for k, v in tr.run(inputs).items()}
        assert ran == [1]
    finally:
        h.remove()
    for name in early:
        assert early[name].device.type == torch.device(DEVICE).type
        torch.testing.assert_close(early[name], full[name], atol=0, rtol=0)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_cuda_search_and_predictor_bf16(family, family_folders, tmp_path):
    from sn_core.config import SearchConfig
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.search.run import run_search

    cfg = SearchConfig(model=str(family_folders[family]), task="shapes-color", n_examples=16, probe_per_class=2,
                       sites=("mlp", "resid"), k=1, batch_size=8, baselines=True, device=DEVICE, dtype="bf16")
    res = run_search(cfg, root=tmp_path)
    assert np.isfinite(res.scores("mlp")).all()
    s = res.summary
    loaded = load_model(str(family_folders[family]), device=DEVICE, dtype="bf16")
    pred = EarlyExitPredictor(loaded, res.classifier())
    values, _, split = res.neuron_values(s.sn_neuron_id)
    i = int(np.flatnonzero(split == "test")[0])
    ex = res.task.examples[i]
    p = pred.predict(ex.image, ex.question)
    assert p.label in res.labels
    assert p.values[s.sn_neuron_id] == pytest.approx(values[i], rel=2e-2, abs=2e-2)


def test_cuda_auto_placement(family_folders, family_images, family_prompts):
    auto = load_model(str(family_folders["llava"]), device="auto")
    assert next(auto.model.parameters()).device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    mapped = load_model(str(family_folders["llava"]), device_map="auto", dtype="bf16")
    vals = read_activations(mapped, family_images[:2], family_prompts(mapped, 2), ("mlp",))
    assert all(np.isfinite(v).all() for v in vals.values())


def test_cuda_demo_model_super_neuron(tmp_path):
    """The trained demo model in bf16 on the GPU: its Super Neuron is accurate on held-out data, and the same
    neuron's predictions agree with a CPU fp32 run on nearly every test example."""
    from sn_core.config import SearchConfig
    from sn_core.search.run import run_search

    kw = dict(model="demo", task="shapes-color", n_examples=200, probe_per_class=10, baselines=True, seed=0)
    gpu = run_search(SearchConfig(**kw, device=DEVICE, dtype="bf16"), root=tmp_path / "gpu")
    s = gpu.summary
    assert s.sn_test_accuracy >= 0.8, s  # chance is 0.25
    assert s.base_accuracy >= 0.8, s
    cpu = run_search(SearchConfig(**kw), root=tmp_path / "cpu")
    nid = s.sn_neuron_id
    assert abs(cpu.test_accuracy([nid]) - gpu.test_accuracy([nid])) <= 0.05

"""Every supported VLM family, end to end, on tiny random-weight models (``sn_core.models.tiny``).

Each family's model is written as a Hugging Face folder and loaded with ``load_model`` (the path a user's
checkpoint takes), then checked for: the adapter and widths; every site firing with the right shape and holding
the tensor it names (checked against the modules' own outputs, not against the hooks); left-padded batches
reading the same values as single examples; early exit equalling the full forward and skipping later layers;
``max_layers`` loading; a full search with its early-exit predictor. Select with ``pytest -k families``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sn_core.activations import Trace, read_activations
from sn_core.models import load_model
from sn_core.sites import site_name
from sn_core.models.tiny import FAMILIES, save_tiny_vlm

FAMILY_NAMES = sorted(FAMILIES)
SITES = ("mlp", "resid", "attn")
ATOL = 2e-5


def _count_hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_families_sites_fire_with_the_named_tensor(family, family_folders, family_images, family_prompts):
    loaded = load_model(str(family_folders[family]))
    spec = FAMILIES[family]
    assert loaded.model.config.model_type == spec.model_type
    assert type(loaded.adapter).__name__ != "ModelAdapter"
    assert loaded.n_layers == 2 and not loaded.truncated
    assert loaded.widths == {"mlp": 64, "resid": 32, "attn": 32}
    prompts = family_prompts(loaded, 2)
    inputs = loaded.encode(family_images[:2], prompts)
    assert bool((inputs["attention_mask"] == 0).any()), "the batch should be left padded"

    # The modules' own outputs at the read position, captured independently of the site hooks.
    layers = loaded.adapter.layers(loaded.model)
    own: dict[str, torch.Tensor] = {}
    handles = []
    for L, block in enumerate(layers):
        handles.append(block.mlp.register_forward_hook(
            lambda m, a, out, L=L: own.__setitem__(f"mlp_out{L}", out[:, -1])))  # [batch, d_model]
        handles.append(block.self_attn.register_forward_hook(
            lambda m, a, out, L=L: own.__setitem__(f"attn_out{L}", out[0][:, -1])))  # [batch, d_model]
    try:
        with torch.inference_mode():
            hidden = loaded.model(**inputs, output_hidden_states=True).hidden_states  # (L+1) x [batch, pos, d]
    finally:
        for h in handles:
            h.remove()

    pairs = [(k, L) for L in range(loaded.n_layers) for k in SITES]
    n_hooks = _count_hooks(loaded.model)  # transformers registers output-recording hooks of its own
    with Trace(loaded, pairs) as tr:
        vals = tr.run(inputs)
    for kind, L in pairs:
        v = vals[site_name(kind, L)]
        assert v.shape == (2, loaded.widths[kind]), (site_name(kind, L), tuple(v.shape))
        assert torch.isfinite(v).all()
    for L, block in enumerate(layers):
        mlp_post = vals[site_name("mlp", L)]  # [batch, d_mlp]
        z = vals[site_name("attn", L)]  # [batch, n_heads*d_head]
        with torch.inference_mode():
            torch.testing.assert_close(block.mlp.down_proj(mlp_post), own[f"mlp_out{L}"], atol=ATOL, rtol=1e-4)
            torch.testing.assert_close(block.self_attn.o_proj(z), own[f"attn_out{L}"], atol=ATOL, rtol=1e-4)
    # hook_resid_post of layer 0 is the residual stream entering layer 1 (hidden_states[1], before any final norm)
    torch.testing.assert_close(vals[site_name("resid", 0)], hidden[1][:, -1], atol=ATOL, rtol=1e-4)
    assert _count_hooks(loaded.model) == n_hooks, "the trace left hooks behind"


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_families_left_padded_batch_equals_single_examples(family, family_folders, family_images, family_prompts):
    loaded = load_model(str(family_folders[family]))
    prompts = family_prompts(loaded, 4)
    batched = read_activations(loaded, family_images, prompts, SITES, batch_size=4)
    single = read_activations(loaded, family_images, prompts, SITES, batch_size=1)
    assert set(batched) == {site_name(k, L) for k in SITES for L in range(2)}
    for name in batched:
        np.testing.assert_allclose(batched[name], single[name], atol=ATOL, rtol=1e-4, err_msg=f"{family} {name}")
    # and the rows differ between examples (the read position is not a constant pad/bos column)
    assert np.abs(batched[site_name("resid", 1)][0] - batched[site_name("resid", 1)][1]).max() > 1e-4


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_families_the_image_reaches_the_read_position(family, family_folders, family_images, family_prompts):
    """Same question, four images: the read position's values differ by image, so every test on these tiny models
    also checks image handling (Gemma 3's zero-initialised projector once hid the image entirely)."""
    loaded = load_model(str(family_folders[family]))
    prompt = family_prompts(loaded, 1)[0]
    acts = read_activations(loaded, family_images, [prompt] * len(family_images), ("resid",), batch_size=4)
    last = acts[site_name("resid", loaded.n_layers - 1)]  # [4, d_model]
    assert np.abs(last - last[0]).max() > 1e-3, family


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_families_early_exit_equals_full_forward(family, family_folders, family_images, family_prompts):
    loaded = load_model(str(family_folders[family]))
    inputs = loaded.encode(family_images[:2], family_prompts(loaded, 2))
    ran = []
    last = loaded.adapter.layers(loaded.model)[1]
    h = last.register_forward_hook(lambda *a: ran.append(1))
    try:
        with Trace(loaded, [("mlp", 0), ("resid", 0), ("attn", 0)]) as tr:  # stops after layer 0
            early = {k: v.clone() for k, v in tr.run(inputs).items()}
        # LLaVA with a Llama decoder runs the truncated pass itself (ModelAdapter.prefix_forward); the others run
        # the model's own forward and stop it with a hook. Both must equal the full forward bit for bit (below).
        assert tr.ran_direct == (loaded.model.config.model_type == "llava"), (family, tr.ran_direct)
        assert ran == [], "layer 1 ran although the trace stops after layer 0"
        with Trace(loaded, [("mlp", 0), ("resid", 0), ("attn", 0)], stop_after=None) as tr:  # full forward
            full = {k: v.clone() for k, v in tr.run(inputs).items()}
        assert ran == [1]
    finally:
        h.remove()
    for name in early:
        torch.testing.assert_close(early[name], full[name], atol=0, rtol=0)

    # max_layers=1 loads layer 0 only and reads the same values
    small = load_model(str(family_folders[family]), max_layers=1)
    assert small.n_layers == 1 and small.truncated and small.n_layers_total == 2
    assert len(small.adapter.layers(small.model)) == 1
    with Trace(small, [("mlp", 0), ("resid", 0), ("attn", 0)]) as tr:
        vals = tr.run(small.encode(family_images[:2], family_prompts(small, 2)))
    for name in early:
        torch.testing.assert_close(vals[name], early[name], atol=ATOL, rtol=1e-4)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_families_search_and_early_exit_predictor(family, family_folders, tmp_path):
    from sn_core.config import SearchConfig
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.search.run import run_search

    cfg = SearchConfig(model=str(family_folders[family]), task="shapes-color", n_examples=16, probe_per_class=2,
                       sites=("mlp", "resid"), k=1, n_top=5, batch_size=8, baselines=False)
    res = run_search(cfg, root=tmp_path)
    n_layers = 2
    assert res.scores("mlp").shape == (n_layers, 64) and res.scores("resid").shape == (n_layers, 32)
    assert np.isfinite(res.scores("mlp")).all()
    s = res.summary
    assert s.sn_neuron_id == res.top_k.iloc[0]["neuron_id"]
    assert 0.0 <= s.sn_test_accuracy <= 1.0 and s.n_probe == 2 * len(res.labels)
    # the early-exit predictor reproduces the searched neuron's stored value for a test example
    clf = res.classifier()
    loaded = load_model(str(family_folders[family]))
    pred = EarlyExitPredictor(loaded, clf)
    values, _, split = res.neuron_values(s.sn_neuron_id)
    i = int(np.flatnonzero(split == "test")[0])
    ex = res.task.examples[i]
    p = pred.predict(ex.image, ex.question)
    assert p.label in res.labels and p.exit_layer == s.sn_layer
    np.testing.assert_allclose(p.values[s.sn_neuron_id], values[i], atol=ATOL, rtol=1e-4)
    # a second run is served from the store
    assert run_search(cfg, root=tmp_path).cache_hit


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_families_generation_baseline_runs(family, family_folders, family_images, family_prompts):
    """The base-model baseline (greedy ``generate`` on a left-padded batch) runs for every family; a random
    model's answers are nonsense, so only their form is checked, and that batching does not change them."""
    from sn_core.models.generation import generate_answers

    loaded = load_model(str(family_folders[family]))
    prompts = family_prompts(loaded, 2)
    labels = ("blue", "green", "red", "yellow")
    batched = generate_answers(loaded, family_images[:2], prompts, labels, batch_size=2, max_new_tokens=2)
    single = generate_answers(loaded, family_images[:2], prompts, labels, batch_size=1, max_new_tokens=2)
    assert len(batched.answers) == 2 and all(isinstance(a, str) for a in batched.answers)
    assert all(p is None or p in labels for p in batched.predicted)
    assert batched.answers == single.answers


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_families_bf16_and_device_map(family, family_folders, family_images, family_prompts):
    """bf16 weights (what a GPU user runs) give the fp32 values to bf16 precision; ``device_map="auto"`` (accelerate
    placement; all on CPU here) with fp32 gives them exactly."""
    fp32 = load_model(str(family_folders[family]))
    bf16 = load_model(str(family_folders[family]), dtype="bf16")
    mapped = load_model(str(family_folders[family]), device_map="auto", dtype="fp32")
    assert bf16.dtype == torch.bfloat16 and next(bf16.model.parameters()).dtype == torch.bfloat16
    prompts = family_prompts(fp32, 2)
    ref = read_activations(fp32, family_images[:2], prompts, ("mlp", "resid"))
    low = read_activations(bf16, family_images[:2], prompts, ("mlp", "resid"))
    same = read_activations(mapped, family_images[:2], prompts, ("mlp", "resid"))
    for name in ref:
        scale = np.abs(ref[name]).max()
        assert np.abs(low[name] - ref[name]).max() <= 0.05 * scale, name
        np.testing.assert_array_equal(same[name], ref[name], err_msg=name)  # same weights, same device: exact


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_families_mixed_image_sizes_batch_equals_single(family, family_folders, family_images):
    """Images of different sizes and aspect ratios in one batch (different visual-token counts for Qwen-VL,
    LLaVA-OneVision anyres and Idefics3/SmolVLM tiling, zero-padded tiles for the latter) read the same values as
    each image alone."""
    loaded = load_model(str(family_folders[family]))
    mixed = [family_images[0], family_images[1].resize((64, 24)), family_images[2].resize((20, 40))]
    prompts = [loaded.prompt("What color is the shape? Answer with one word.")] * 3  # same text: padding = images
    if family not in ("llava", "gemma3"):  # these two resize every image to one fixed square
        mask = loaded.encode(mixed, prompts)["attention_mask"]
        assert bool((mask == 0).any()), "the images should give different visual-token counts"
    batched = read_activations(loaded, mixed, prompts, ("mlp", "resid"), batch_size=3)
    single = read_activations(loaded, mixed, prompts, ("mlp", "resid"), batch_size=1)
    for name in batched:
        np.testing.assert_allclose(batched[name], single[name], atol=ATOL, rtol=1e-4, err_msg=f"{family} {name}")


def test_families_gemma3_truncation_through_a_global_layer(tmp_path, family_images, family_prompts):
    """Gemma 3 alternates five sliding-window layers and one global layer: loading 6 of 7 layers slices
    ``layer_types`` with them, and the global layer 5 reads what it reads in the full model."""
    folder = save_tiny_vlm("gemma3", tmp_path / "gemma3-7L", n_layers=7)
    full = load_model(str(folder))
    part = load_model(str(folder), max_layers=6)
    types = part.model.config.text_config.layer_types
    assert len(types) == 6 and types[5] == "full_attention" and types[:5] == ["sliding_attention"] * 5
    prompts = family_prompts(full, 2)
    a = read_activations(full, family_images[:2], prompts, ("mlp", "resid"), layers=[5])
    b = read_activations(part, family_images[:2], prompts, ("mlp", "resid"), layers=[5])
    for name in a:
        np.testing.assert_allclose(b[name], a[name], atol=ATOL, rtol=1e-4, err_msg=name)

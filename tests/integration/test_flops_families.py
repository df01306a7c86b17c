"""FLOP limits for every family, checked against the matrix products the model itself runs.

The tiny models are built from each checkpoint's real config (``sn_core.models.config_faithful``), so the vision work
the analytic count must follow is the real layout's: CLIP's class token, OneVision's anyres tiles, Qwen-VL's
dynamic patch grid and Qwen2.5-VL's attention windows, SmolVLM's tiles, Gemma 3's pooled projector. torch's
``FlopCounterMode`` counts every matmul / convolution the forward runs; with eager attention the attention products
are plain matmuls too, so the analytic count must match the counted one (decoder attention as executed: eager
computes the whole ``T x T`` score matrix and masks it, where the analytic limit counts the causal half).
Select with ``pytest -k flops``.
"""
from __future__ import annotations

import pytest
import torch

from sn_core.activations.trace import Trace
from sn_core.models.flops import early_exit_flops, flop_dims, flop_ratio, search_flop_limits
from sn_core.models import load_model
from sn_core.models.tiny import FAMILIES

FAMILY_NAMES = sorted(FAMILIES)
REL = 0.02  # what the analytic count leaves out: rotary-frequency products (a few hundred FLOPs)


def _eager(loaded):
    loaded.model.set_attn_implementation("eager")
    return loaded


def _one_example(loaded, family_images, family_prompts, size=None):
    image = family_images[0] if size is None else family_images[0].resize(size)
    return loaded.encode([image], family_prompts(loaded, 1))


# every family on its square test image; the families whose vision work follows the image's shape also on a wide one
CASES = [(f, None) for f in FAMILY_NAMES] + [(f, (64, 24)) for f in ("llava_onevision", "qwen2_5_vl", "smolvlm")]


@pytest.mark.parametrize("family,size", CASES, ids=[f"{f}-{'wide' if s else 'square'}" for f, s in CASES])
def test_flops_families_early_exit_matches_counted_matmuls(family, size, family_folders, family_images,
                                                           family_prompts):
    from torch.utils.flop_counter import FlopCounterMode

    loaded = _eager(load_model(str(family_folders[family])))
    inputs = _one_example(loaded, family_images, family_prompts, size)
    T = int(inputs["input_ids"].shape[1])
    d = flop_dims(loaded, inputs)
    assert d.vision_tokens > 0 and d.image_tokens > 0 and d.vision_attn_pairs > 0
    for L in (0, loaded.n_layers - 1):
        with FlopCounterMode(display=False) as fc:
            with Trace(loaded, [("mlp", L)]) as tr:
                tr.run(inputs)
        executed = early_exit_flops(d, T, L) + (L + 1) * 4 * d.d_attn * (T * T - T * (T + 1) / 2)
        assert fc.get_total_flops() == pytest.approx(executed, rel=REL), (family, L)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_flops_families_limits_never_null(family, family_folders, family_images, family_prompts):
    """Every family gets a FLOP limit for every layer from the search's own path (no silent empty dict), with
    and without an encoded example; exiting later never raises the limit."""
    from sn_core.data import get_task

    loaded = load_model(str(family_folders[family]))
    task = get_task("shapes-color", 2, seed=1)
    prompts = [loaded.prompt(task.prompt_text(ex.question)) for ex in task.examples]
    layers = list(range(loaded.n_layers))
    limits = search_flop_limits(loaded, task, prompts, list(task.labels), layers)
    assert sorted(limits) == layers
    assert all(v > 1.0 for v in limits.values())
    assert limits[0] >= limits[layers[-1]]
    nominal = flop_ratio(loaded, 20, 0)  # no example given: a nominal square image
    assert nominal["ratio"] > 1.0


def test_flops_families_tiles_follow_the_image(family_folders, family_images, family_prompts):
    """The vision work follows the image where the family's does: SmolVLM resizes the longest edge to 4 tiles
    and cuts the image into whole tiles plus a global view (a square: 4 x 4 + 1 tiles; 2:1 wide: 4 x 2 + 1), while
    Gemma 3 and LLaVA-1.5 resize every image to one square."""
    small, wide = family_images[0].resize((20, 20)), family_images[0].resize((96, 48))
    work, cfgs = {}, {}
    for family in ("smolvlm", "gemma3", "llava_1_5"):
        loaded = load_model(str(family_folders[family]))
        p = family_prompts(loaded, 1)
        work[family] = [flop_dims(loaded, loaded.encode([im], p)).vision_tokens for im in (small, wide)]
        cfgs[family] = loaded
    ip = cfgs["smolvlm"].processor.image_processor
    side = ip.size["longest_edge"] // ip.max_image_size["longest_edge"]
    vc = cfgs["smolvlm"].model.config.vision_config
    per_tile = (vc.image_size // vc.patch_size) ** 2
    assert work["smolvlm"] == [(side * side + 1) * per_tile, (side * side // 2 + 1) * per_tile]
    assert work["gemma3"][0] == work["gemma3"][1]
    assert work["llava_1_5"][0] == work["llava_1_5"][1]


def test_flops_full_depth_checkpoints_from_real_configs(family_images):
    """The full-depth example checkpoints (real widths, meta device: shapes only) get finite limits > 1 after
    layer 0, with the real image work: CLIP ViT-L/14 at 336 px is 24 x 24 patches + a class token, of which the
    projector sees the 576 patches (strategy ``default``); Gemma 3 pools 4096 patches to 256 tokens; Qwen3-VL
    pins a square image to 256 merged tokens (1024 patches)."""
    from sn_core.models.config_faithful import BUILDS, full_depth_loaded

    q = "What color is the shape? Answer with one word."
    seen = {}
    for family in sorted(BUILDS):
        loaded = full_depth_loaded(family)
        inputs = loaded.adapter.encode(loaded.processor, [family_images[0]], [loaded.prompt(q)])
        d = flop_dims(loaded, inputs)
        r = flop_ratio(loaded, int(inputs["input_ids"].shape[1]), 0, inputs=inputs)
        assert 1.0 < r["ratio"] < float("inf"), family
        assert d.n_layers == loaded.n_layers_total > 2, family
        seen[family] = d
    assert (seen["llava_1_5"].vision_tokens, seen["llava_1_5"].image_tokens) == (577, 576)
    assert (seen["gemma3"].vision_tokens, seen["gemma3"].image_tokens) == (4096, 256)
    assert (seen["qwen3_vl"].vision_tokens, seen["qwen3_vl"].image_tokens) == (1024, 256)
    assert torch.device("meta") == next(loaded.model.parameters()).device

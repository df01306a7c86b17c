"""The shortcut's numpy processor step (sn_core.shortcut.prep) against the transformers 5.24 code it mirrors, and
the runtime's imports (no torch)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

GRIDS = [[[1, 4, 4]], [[1, 4, 4], [1, 2, 6]], [[1, 6, 8], [1, 4, 4], [1, 10, 2]]]


@pytest.mark.parametrize("grid", GRIDS)
def test_vision_inputs_equal_transformers(grid):
    import torch
    from transformers import vision_utils as vu

    from sn_core.shortcut import prep

    g = torch.tensor(grid)
    assert np.array_equal(prep.vision_position_ids(np.array(grid), 2), vu.get_vision_position_ids(g, 2).numpy())
    assert np.array_equal(prep.vision_cu_seqlens(np.array(grid)), vu.get_vision_cu_seqlens(g).numpy())
    wi, cw = vu.get_vision_window_index(g, 2, 112, 14)
    pwi, pcw = prep.vision_window_index(np.array(grid), 2, 112, 14)
    assert np.array_equal(pwi, wi.numpy()) and np.array_equal(pcw, cw.numpy())
    idx, w = vu.get_vision_interpolation_indices_and_weights(g, 48, mode="bilinear", align_corners=True,
                                                             spatial_merge_size=2)
    pidx, pw = prep.vision_interpolation(np.array(grid), 48, 2)
    assert np.array_equal(pidx, idx.numpy()) and np.allclose(pw, w.numpy(), atol=1e-7)


def test_rope_index_equals_get_rope_index_with_left_padding():
    """M-RoPE positions of a left-padded batch with two image grids, as Qwen2VLModel.get_rope_index gives them."""
    import torch
    from PIL import Image

    from sn_core.models.registry import adapter_for
    from sn_core.shortcut.prep import qwen_rope_index
    from sn_core.models.tiny import tiny_vlm

    model, proc = tiny_vlm("qwen2_vl", n_layers=1)
    ad = adapter_for("qwen2_vl")
    imgs = [Image.new("RGB", (48, 48)), Image.new("RGB", (40, 96)), Image.new("RGB", (30, 30))]
    prompts = [ad.build_prompt(proc, q) for q in ("What?", "Is there a large blue circle on the left side?", "Hm")]
    b = ad.encode(proc, imgs, prompts)
    assert (b["attention_mask"] == 0).any()
    want, _ = model.model.get_rope_index(b["input_ids"], b["mm_token_type_ids"], image_grid_thw=b["image_grid_thw"],
                                         attention_mask=b["attention_mask"])
    got = qwen_rope_index(b["input_ids"].numpy(), b["mm_token_type_ids"].numpy(), b["attention_mask"].numpy(),
                          b["image_grid_thw"].numpy(), 2)
    assert np.array_equal(got, want.numpy())
    assert torch.is_tensor(want)


def test_idefics_tiles_drop_padding_tiles():
    from sn_core.shortcut.prep import idefics_tiles

    pv = np.zeros((2, 3, 3, 4, 4), np.float32)
    pv[0, :3] = 1.0
    pv[1, :1] = 2.0  # row 1 has one real tile, two padding tiles
    pam = np.ones((2, 3, 4, 4), np.int64)
    tiles, mask = idefics_tiles(pv, pam)
    assert tiles.shape == (4, 3, 4, 4) and mask.shape == (4, 4, 4) and (tiles[3] == 2.0).all()
    tiles, _ = idefics_tiles(np.zeros((1, 2, 3, 4, 4), np.float32), np.ones((1, 2, 4, 4), np.int64))
    assert tiles.shape[0] == 1  # no real tile: the first stays, as get_image_features keeps it


def test_runtime_and_prep_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import sn_core.shortcut, sn_core.shortcut.runtime, sn_core.shortcut.prep, sn_core.shortcut.card\n"
            "print('torch-free')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "torch-free" in out.stdout, out.stderr

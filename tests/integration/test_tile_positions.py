"""SmolVLM / Idefics3 vision embeddings as the shortcut graph computes them equal the library's.

The graph counts the boundaries ``<= x`` instead of calling ``torch.bucketize`` and takes the boundaries as a
constant computed outside it (``sn_core.shortcut.families.idefics_boundaries``): inside the graph, onnxruntime's
float32 ``Range`` gives one boundary fewer than torch for some grid sizes (3, 6, 7, 14, ... patches per side), and
the exported bucket search then read past the end. Checked here for every grid size up to 64, on tiles whose
real patch area varies, and through onnxruntime for a grid size where the two ranges differ.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sn_core.shortcut.families import _tile_embeddings_forward

PATCH = 2


def _embeddings(n_side: int, cls_name: str = "Idefics3VisionEmbeddings"):
    import importlib

    from transformers import Idefics3VisionConfig

    mod = importlib.import_module("transformers.models.idefics3.modeling_idefics3" if cls_name.startswith("Idefics3")
                                  else "transformers.models.smolvlm.modeling_smolvlm")
    cfg = Idefics3VisionConfig(hidden_size=8, image_size=n_side * PATCH, patch_size=PATCH)
    torch.manual_seed(n_side)
    return getattr(mod, cls_name)(cfg).eval()


def _tiles(n_side: int, seed: int):
    """Three tiles of the full grid: one whole, two with a smaller real area (top-left, as the processor pads)."""
    g = torch.Generator().manual_seed(seed)
    pv = torch.randn(3, 3, n_side * PATCH, n_side * PATCH, generator=g)
    mask = torch.zeros(3, n_side, n_side, dtype=torch.bool)
    mask[0] = True
    for t in (1, 2):
        h, w = (int(v) for v in torch.randint(1, n_side + 1, (2,), generator=g))
        mask[t, :h, :w] = True
    return pv, mask


def _boundaries(emb):
    n = emb.num_patches_per_side
    return torch.arange(1 / n, 1.0, 1 / n)


@pytest.mark.parametrize("cls_name", ["Idefics3VisionEmbeddings", "SmolVLMVisionEmbeddings"])
def test_counted_buckets_equal_the_library_for_every_grid_size(cls_name):
    for n_side in range(2, 65):
        emb = _embeddings(n_side, cls_name)
        pv, mask = _tiles(n_side, seed=n_side)
        with torch.no_grad():
            want = emb(pv, mask)
            got = _tile_embeddings_forward(emb, pv, mask, _boundaries(emb))
        assert torch.equal(got, want), (cls_name, n_side)


def test_counted_buckets_run_in_onnxruntime_where_the_float32_range_is_shorter(tmp_path):
    """Grid of 6 patches per side: torch's ``arange(1/6, 1, 1/6)`` has 6 elements, a float32 Range 5."""
    import onnxruntime as ort

    n_side = 6
    assert len(_boundaries(_embeddings(n_side))) != int(np.ceil(np.float32(1 - np.float32(1 / 6)) / np.float32(1 / 6)))
    emb = _embeddings(n_side)

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = emb
            self.register_buffer("bounds", _boundaries(emb), persistent=False)

        def forward(self, pv, mask):
            return _tile_embeddings_forward(self.emb, pv, mask, self.bounds)

    pv, mask = _tiles(n_side, seed=1)
    path = tmp_path / "emb.onnx"
    tiles = torch.export.Dim("tiles", min=1)
    torch.onnx.export(Wrap().eval(), (pv, mask), str(path), dynamo=True, input_names=["pv", "mask"],
                      dynamic_shapes={"pv": {0: tiles}, "mask": {0: tiles}})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for seed in (2, 3):
        pv, mask = _tiles(n_side, seed=seed)
        pv, mask = pv[: seed - 1], mask[: seed - 1]
        (got,) = sess.run(None, {"pv": pv.numpy(), "mask": mask.numpy()})
        with torch.no_grad():
            want = emb(pv, mask).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

"""The vision side of the analytic FLOP count, per family, from an encoded example (see :mod:`sn_core.models.flops`).

What the vision tower and projector do for one image depends on the family and, for several, on the image:

- LLaVA / demo (CLIP or SigLIP tower): ``(side / patch)^2`` patch tokens (+1 CLIP class token) through every tower
  layer (a ``vision_feature_layer`` of -2 still runs the last layer); the projector sees the selected tokens
  (strategy ``default`` drops the class token, ``full`` keeps all).
- LLaVA-OneVision: the base view plus the anyres grid's tiles (``image_size_to_num_patches`` of the image's size),
  each a full tower pass; the projector sees every tile token (unpadding and ``anyres_max_9`` pooling come after).
- Qwen2-VL / Qwen2.5-VL / Qwen3-VL: a dynamic patch grid (``image_grid_thw``): ``t*h*w`` patch tokens; attention
  within each image (Qwen2.5-VL: within windows, except the full-attention blocks); the merger and Qwen3-VL's
  DeepStack mergers see ``t*h*w / merge^2`` tokens.
- SmolVLM / Idefics3: every real (not all-zero padding) tile of ``pixel_values`` is a tower pass; the connector
  sees ``(tile / patch)^2 / scale^2`` tokens per tile.
- Gemma 3: ``(896 / 14)^2 = 4096`` patch tokens; the projector's matrix runs after 4x4 average pooling, on
  ``mm_tokens_per_image`` tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from sn_core.models.base import get_module


@dataclass(frozen=True)
class VisionWork:
    """The vision work of one example (all of its images): tokens and attention pairs the FLOPs follow from."""

    tower_params: int  # matrix weights applied to every tower token
    tower_tokens: int  # patch (+class) tokens over all tiles / images
    tower_layers: int
    d_attn: int  # width the tower's attention runs at
    attn_pairs: int  # query-key pairs, summed over tower layers
    projector_params: int  # matrix weights applied to every projector token (Qwen: merger + DeepStack mergers)
    projector_tokens: int
    n_images: int


def matmul_params(module: torch.nn.Module | None, skip: tuple[str, ...] = ()) -> int:
    """Weights used in matrix products: linear and convolution kernels, and bare 2-D parameters of other modules
    (Gemma 3's projector matrix). Embedding tables (lookups), biases and norm scales are left out. Parameters under
    a submodule whose name is in ``skip`` are left out too."""
    if module is None:
        return 0
    total = 0
    for name, mod in module.named_modules():
        if any(part in skip for part in name.split(".")):
            continue
        if isinstance(mod, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)):
            total += mod.weight.numel()
        elif not isinstance(mod, torch.nn.Embedding):
            total += sum(p.numel() for p in mod.parameters(recurse=False) if p.dim() >= 2)
    return int(total)


def _first(inputs, key):
    v = inputs.get(key) if inputs is not None else None
    return v if isinstance(v, torch.Tensor) else None


def _layers(vc) -> int:
    return int(getattr(vc, "num_hidden_layers", None) or getattr(vc, "depth", 0) or 0)


def _tiles_work(vc, n_tiles: int, tile_side_h: int, tile_side_w: int, cls: int) -> tuple[int, int]:
    p = int(vc.patch_size)
    per_tile = (tile_side_h // p) * (tile_side_w // p) + cls
    return n_tiles * per_tile, _layers(vc) * n_tiles * per_tile ** 2


def vision_work(loaded, inputs) -> VisionWork:
    """The vision work of the (single) example encoded in ``inputs`` (a batch of one; with more rows, the total)."""
    model, adapter, cfg = loaded.model, loaded.adapter, loaded.model.config
    vc = getattr(cfg, "vision_config", None)
    vision = get_module(model, adapter.vision_tower_path) if adapter.vision_tower_path else None
    projector = get_module(model, adapter.projector_path) if adapter.projector_path else None
    mt = str(cfg.model_type)
    if vc is None or vision is None:
        return VisionWork(0, 0, 0, 0, 0, 0, 0, 0)
    d = int(getattr(vc, "hidden_size", 0) or 0)
    pv = _first(inputs, "pixel_values")
    if mt in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl"):
        grid = _first(inputs, "image_grid_thw")
        if grid is None:
            raise ValueError("a Qwen-VL example without image_grid_thw")
        merge = int(vc.spatial_merge_size)
        seqs = [int(t) * int(h) * int(w) for t, h, w in grid.tolist()]
        frames = [int(h) * int(w) for t, h, w in grid.tolist() for _ in range(int(t))]
        full_pairs = sum(s * s for s in frames)
        depth = _layers(vc)
        if mt == "qwen2_vl":
            d = int(vc.embed_dim)
            pairs = depth * full_pairs
        elif mt == "qwen2_5_vl":
            from transformers.vision_utils import get_vision_window_index

            _, cu = get_vision_window_index(grid, spatial_merge_size=merge, window_size=int(vc.window_size),
                                            patch_size=int(vc.patch_size))
            cu = torch.unique_consecutive(torch.as_tensor(cu))
            win_pairs = int(sum(int(b - a) ** 2 for a, b in zip(cu[:-1].tolist(), cu[1:].tolist())))
            n_full = len([i for i in vc.fullatt_block_indexes if i < depth])
            pairs = n_full * full_pairs + (depth - n_full) * win_pairs
        else:
            pairs = depth * full_pairs
        tokens = sum(seqs)
        proj_skip = ("merger", "deepstack_merger_list")
        proj = matmul_params(vision) - matmul_params(vision, skip=proj_skip)
        return VisionWork(matmul_params(vision, skip=proj_skip), tokens, depth, d, pairs, proj,
                          tokens // merge ** 2, len(seqs))
    tower = matmul_params(vision, skip=("head",))  # SigLIP's pooling head: unused by these models
    proj_params = matmul_params(projector)
    if pv is None:
        raise ValueError(f"a {mt} example without pixel_values")
    if mt in ("smolvlm", "idefics3"):
        # [batch, tiles, 3, H, W]; all-zero tiles are padding the model drops
        flat = pv.reshape(-1, *pv.shape[-3:])
        real = int(((flat == 0).sum(dim=(-1, -2, -3)) != flat[0].numel()).sum()) or 1
        tokens, pairs = _tiles_work(vc, real, int(pv.shape[-2]), int(pv.shape[-1]), 0)
        scale = int(getattr(cfg, "scale_factor", 1) or 1)
        return VisionWork(tower, tokens, _layers(vc), d, pairs, proj_params, tokens // scale ** 2, pv.shape[0])
    if mt == "llava_onevision":
        from transformers.models.llava_onevision.modeling_llava_onevision import image_size_to_num_patches

        sizes = _first(inputs, "image_sizes")
        n_tiles = sum(int(image_size_to_num_patches(image_size=s, grid_pinpoints=cfg.image_grid_pinpoints,
                                                    patch_size=int(vc.image_size))) for s in sizes.tolist())
        tokens, pairs = _tiles_work(vc, n_tiles, int(pv.shape[-2]), int(pv.shape[-1]), 0)
        drop = n_tiles if getattr(cfg, "vision_feature_select_strategy", "full") == "default" else 0
        return VisionWork(tower, tokens, _layers(vc), d, pairs, proj_params, tokens - drop, len(sizes))
    n_images = int(pv.shape[0]) if pv.dim() == 4 else int(pv.shape[0] * pv.shape[1])
    cls = 1 if hasattr(getattr(vision, "vision_model", vision), "embeddings") and hasattr(
        getattr(getattr(vision, "vision_model", vision), "embeddings", None), "class_embedding") else 0
    tokens, pairs = _tiles_work(vc, n_images, int(pv.shape[-2]), int(pv.shape[-1]), cls)
    if mt == "gemma3":
        return VisionWork(tower, tokens, _layers(vc), d, pairs, proj_params,
                          n_images * int(cfg.mm_tokens_per_image), n_images)
    strategy = getattr(cfg, "vision_feature_select_strategy", "full")
    drop = n_images if strategy == "default" else 0
    return VisionWork(tower, tokens, _layers(vc), d, pairs, proj_params, tokens - drop, n_images)

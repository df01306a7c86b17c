"""The shortcut's own processor step: graph inputs (numpy) from a processor batch, for every exported family.

This module imports neither torch nor transformers. Where a family's forward pass computes something from the
batch with data-dependent Python (loops over images, ``.tolist()``, boolean indexing), which an exported graph
cannot hold with a dynamic batch, it is computed here in numpy, the same way transformers 5.24 computes it, and
fed to the graph as an input:

- Qwen2-VL / Qwen2.5-VL / Qwen3-VL: the M-RoPE position ids of the text model (``get_rope_index``: text tokens
  count on, each image's tokens get (t, h, w) grid positions, padding columns stay 0), and the vision tower's
  precomputed tensors of ``transformers.vision_utils`` (rotary position ids, ``cu_seqlens``; Qwen2.5-VL's window
  index and window boundaries; Qwen3-VL's bilinear position-embedding taps and weights).
- SmolVLM / Idefics3: the padding tiles (all zero, as ``get_image_features`` detects them) are dropped; the real
  tiles and their ``pixel_attention_mask`` go to the graph.
- LLaVA-OneVision: the tiles and ``feature_index`` (``sn_core.shortcut.onevision.onevision_tiles``).
- LLaVA and Gemma 3: the processor's arrays as they are (Gemma 3 adds ``token_type_ids``).

``INPUT_NAMES[family]`` lists the graph inputs in order; ``graph_feeds(family, batch, layout)`` builds them.
"""
from __future__ import annotations

import itertools

import numpy as np

QWEN = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
IDEFICS = ("smolvlm", "idefics3")
EXPORT_FAMILIES = ("llava", "llava_onevision", "gemma3", "smolvlm", "idefics3") + QWEN
_TEXT = ("input_ids", "attention_mask")
INPUT_NAMES = {
    "llava": _TEXT + ("pixel_values",),
    "llava_onevision": _TEXT + ("pixel_values", "feature_index"),
    "gemma3": _TEXT + ("pixel_values", "token_type_ids"),
    "smolvlm": _TEXT + ("pixel_values", "pixel_attention_mask"),
    "idefics3": _TEXT + ("pixel_values", "pixel_attention_mask"),
    "qwen2_vl": _TEXT + ("pixel_values", "position_ids", "vision_position_ids", "cu_seqlens"),
    "qwen2_5_vl": _TEXT + ("pixel_values", "position_ids", "vision_position_ids", "cu_seqlens", "window_index",
                           "cu_window_seqlens"),
    "qwen3_vl": _TEXT + ("pixel_values", "position_ids", "vision_position_ids", "cu_seqlens", "interp_indices",
                         "interp_weights"),
}


def _arr(v) -> np.ndarray:
    if hasattr(v, "detach"):  # a torch tensor (export side); the runtime passes numpy arrays
        v = v.detach().cpu().numpy()
    return np.asarray(v)


def graph_feeds(family: str, batch, layout: dict | None) -> dict:
    """Graph inputs (numpy, the names of ``INPUT_NAMES[family]``) from a left-padded processor batch."""
    ids = _arr(batch["input_ids"]).astype(np.int64)
    mask = _arr(batch["attention_mask"]).astype(np.int64)
    out = {"input_ids": ids, "attention_mask": mask}
    pv = _arr(batch["pixel_values"]).astype(np.float32)
    if family == "llava_onevision":
        from sn_core.shortcut.onevision import onevision_tiles

        out["pixel_values"], out["feature_index"] = onevision_tiles(pv, _arr(batch["image_sizes"]), layout)
    elif family in IDEFICS:
        out["pixel_values"], out["pixel_attention_mask"] = idefics_tiles(pv, _arr(batch["pixel_attention_mask"]))
    elif family == "gemma3":
        out["pixel_values"] = pv
        out["token_type_ids"] = _arr(batch["token_type_ids"]).astype(np.int64)
    elif family in QWEN:
        grid = _arr(batch["image_grid_thw"]).astype(np.int64)
        merge = int(layout["spatial_merge_size"])
        out["pixel_values"] = pv
        out["position_ids"] = qwen_rope_index(ids, _arr(batch["mm_token_type_ids"]).astype(np.int64), mask, grid,
                                              merge)
        out["vision_position_ids"] = vision_position_ids(grid, merge)
        out["cu_seqlens"] = vision_cu_seqlens(grid)
        if family == "qwen2_5_vl":
            out["window_index"], out["cu_window_seqlens"] = vision_window_index(
                grid, merge, int(layout["window_size"]), int(layout["patch_size"]))
        if family == "qwen3_vl":
            out["interp_indices"], out["interp_weights"] = vision_interpolation(grid, int(layout["num_grid_per_side"]),
                                                                                merge)
    else:
        out["pixel_values"] = pv
    return {k: out[k] for k in INPUT_NAMES[family]}


# ------------------------------------------------------------------------------------------ SmolVLM / Idefics3
def idefics_tiles(pixel_values: np.ndarray, pixel_attention_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The real tiles ``[tiles, 3, H, W]`` (padding tiles, all zero, dropped as ``get_image_features`` drops them;
    if no tile is real the first stays) and their pixel masks ``[tiles, H, W]`` int64."""
    b, n = pixel_values.shape[:2]
    flat = pixel_values.reshape(b * n, *pixel_values.shape[2:])
    real = (flat == 0.0).reshape(b * n, -1).sum(1) != flat[0].size
    real[0] |= not real.any()
    pam = pixel_attention_mask.reshape(b * n, *pixel_attention_mask.shape[2:])
    return np.ascontiguousarray(flat[real]), np.ascontiguousarray(pam[real]).astype(np.int64)


# ------------------------------------------------------------------------------------------ Qwen-VL
def qwen_rope_index(input_ids: np.ndarray, mm_token_type_ids: np.ndarray, attention_mask: np.ndarray,
                    image_grid_thw: np.ndarray, spatial_merge_size: int) -> np.ndarray:
    """``Qwen2VLModel.get_rope_index`` (transformers 5.24; the same for Qwen2.5-VL and Qwen3-VL on images) in
    numpy: ``[3, batch, pos]`` int64 M-RoPE positions. Padding columns are 0."""
    bsz, seq = input_ids.shape
    pos = np.zeros((3, bsz, seq), dtype=np.int64)
    grids = iter(np.asarray(image_grid_thw, dtype=np.int64).tolist())
    for b in range(bsz):
        keep = attention_mask[b].astype(bool)
        types = mm_token_type_ids[b][keep].tolist()
        parts, cur, start = [], 0, 0
        for key, group in itertools.groupby(types):
            length = len(list(group))
            if key == 0:
                parts.append(np.broadcast_to(np.arange(length, dtype=np.int64) + cur, (3, length)))
                cur += length
            else:
                if key != 1:
                    raise ValueError("videos are not supported by the shortcut")
                t, h, w = next(grids)
                lt, lh, lw = t, h // spatial_merge_size, w // spatial_merge_size
                tt, hh, ww = np.meshgrid(np.arange(lt), np.arange(lh) + cur, np.arange(lw) + cur, indexing="ij")
                v = np.stack([tt, hh, ww]).reshape(3, -1).astype(np.int64)
                v[0] += cur
                if v.shape[1] != length:
                    raise ValueError(f"an image has {length} image tokens but its grid {t}x{h}x{w} gives "
                                     f"{v.shape[1]}")
                parts.append(v)
                cur += max(h, w) // spatial_merge_size
            start += length
        pos[:, b, keep] = np.concatenate(parts, axis=1) if parts else np.zeros((3, 0), np.int64)
    return pos


def vision_position_ids(grid_thw: np.ndarray, spatial_merge_size: int) -> np.ndarray:
    """``transformers.vision_utils.get_vision_position_ids``: ``[patches, 2]`` (h, w) in merge-block order."""
    out = []
    m = spatial_merge_size
    for t, h, w in np.asarray(grid_thw, dtype=np.int64).tolist():
        hp, wp = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        shape = (h // m, m, w // m, m)
        hp = hp.reshape(shape).transpose(0, 2, 1, 3).reshape(-1)
        wp = wp.reshape(shape).transpose(0, 2, 1, 3).reshape(-1)
        out.append(np.tile(np.stack([hp, wp], axis=-1), (t, 1)))
    return np.concatenate(out).astype(np.int64)


def vision_cu_seqlens(grid_thw: np.ndarray) -> np.ndarray:
    """``get_vision_cu_seqlens``: each frame its own attention segment; ``[segments + 1]`` int64."""
    g = np.asarray(grid_thw, dtype=np.int64)
    seqlens = np.repeat(g[:, 1] * g[:, 2], g[:, 0])
    return np.concatenate([[0], np.cumsum(seqlens)]).astype(np.int64)


def vision_window_index(grid_thw: np.ndarray, spatial_merge_size: int, window_size: int,
                        patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``get_vision_window_index`` (Qwen2.5-VL): the merge-unit order of windowed attention and the window
    boundaries (in patches, repeated boundaries removed)."""
    window_index, cu = [], [0]
    offset = 0
    win = window_size // spatial_merge_size // patch_size
    unit = spatial_merge_size ** 2
    for t, h, w in np.asarray(grid_thw, dtype=np.int64).tolist():
        gh, gw = h // spatial_merge_size, w // spatial_merge_size
        index = np.arange(t * gh * gw).reshape(t, gh, gw)
        ph, pw = win - gh % win, win - gw % win
        nh, nw = (gh + ph) // win, (gw + pw) // win
        padded = np.pad(index, ((0, 0), (0, ph), (0, pw)), constant_values=-100)
        padded = padded.reshape(t, nh, win, nw, win).transpose(0, 1, 3, 2, 4).reshape(t, nh * nw, win, win)
        seqlens = (padded != -100).sum(axis=(2, 3)).reshape(-1)
        flat = padded.reshape(-1)
        window_index.append(flat[flat != -100] + offset)
        cu.extend((np.cumsum(seqlens) * unit + cu[-1]).tolist())
        offset += t * gh * gw
    cu_arr = np.asarray(cu, dtype=np.int64)
    keep = np.concatenate([[True], cu_arr[1:] != cu_arr[:-1]])  # torch.unique_consecutive
    return np.concatenate(window_index).astype(np.int64), cu_arr[keep]


def vision_interpolation(grid_thw: np.ndarray, num_grid_per_side: int,
                         spatial_merge_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``get_vision_interpolation_indices_and_weights(mode="bilinear", align_corners=True)`` (Qwen3-VL's
    resampled position embeddings): ``[patches, 4]`` int64 taps into the table and float32 weights."""
    side, m = num_grid_per_side, spatial_merge_size
    idx_all, w_all = [], []
    for t, h, w in np.asarray(grid_thw, dtype=np.int64).tolist():
        within = np.tile(np.arange(h * w), t)
        blocks_w = w // m
        in_col, in_row = within % m, (within // m) % m
        block_col, block_row = (within // (m * m)) % blocks_w, within // (m * m * blocks_w)
        row, col = block_row * m + in_row, block_col * m + in_col
        ht, hw_ = _taps(row, h, side)
        wt, ww = _taps(col, w, side)
        idx_all.append((ht[:, :, None] * side + wt[:, None, :]).reshape(-1, 4))
        w_all.append((hw_[:, :, None] * ww[:, None, :]).reshape(-1, 4))
    return np.concatenate(idx_all).astype(np.int64), np.concatenate(w_all).astype(np.float32)


def _taps(index: np.ndarray, size: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear taps of one axis, align_corners=True (``_interpolation_axis_taps_weights``), in float32."""
    index = index.astype(np.float32)
    src = index * np.float32(side - 1) / np.float32(max(size - 1, 1))
    floor = np.floor(src)
    offsets = np.arange(0, 2)
    taps = np.clip(floor.astype(np.int64)[:, None] + offsets, 0, side - 1)
    distance = np.abs(src[:, None] - floor[:, None] - offsets.astype(np.float32))
    weights = np.clip(np.float32(1) - distance, 0, None).astype(np.float32)
    return taps, weights


def tile_px(processor) -> int:
    """The side of ``processor``'s image tile in pixels (the smaller of ``size`` and ``crop_size``), or 48."""
    ip = getattr(processor, "image_processor", None)
    sides = []
    for attr in ("size", "crop_size"):
        size = getattr(ip, attr, None)  # a dict or transformers' SizeDict
        get = size.get if isinstance(size, dict) else (lambda k, size=size: getattr(size, k, None))
        side = get("height") or get("shortest_edge")
        if isinstance(side, int) and side > 0:
            sides.append(side)
    return min(sides, default=48)


__all__ = ["EXPORT_FAMILIES", "INPUT_NAMES", "QWEN", "IDEFICS", "graph_feeds", "idefics_tiles", "tile_px",
           "qwen_rope_index", "vision_position_ids", "vision_cu_seqlens", "vision_window_index", "vision_interpolation"]

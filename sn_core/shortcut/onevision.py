"""LLaVA-OneVision's part of the shortcut's processor step (``sn_core.shortcut.prep``): the anyres tiles of each
image and the order in which their projected features fill the image tokens, computed in numpy."""
from __future__ import annotations

import math

import numpy as np

from sn_core.shortcut.card import ShortcutError


def onevision_tiles(pixel_values: np.ndarray, image_sizes: np.ndarray, layout: dict) -> tuple[np.ndarray, np.ndarray]:
    """The tiles of each image (``[tiles, 3, H, W]``, padding tiles dropped) and ``feature_index``: for each image
    token in order, the row of the projected tile features (``tiles * tokens_per_tile`` rows, then one
    image-newline row) that fills it. The same layout as transformers' ``LlavaOnevisionModel.pack_image_features``
    (base view, then the anyres grid unpadded to the image's aspect ratio with a newline row per line); image
    sizes whose grid would be pooled (``anyres_max_N``) are refused."""
    from transformers.image_processing_utils import select_best_resolution

    pin, tile, patch = layout["image_grid_pinpoints"], int(layout["tile_size"]), int(layout["patch_size"])
    side = tile // patch
    per_tile = side * side - (1 if layout["vision_feature_select_strategy"] == "default" else 0)
    max_tiles = int(layout["vision_aspect_ratio"].strip("anyres_max_"))
    counts, grids = [], []
    for size in np.asarray(image_sizes).tolist():
        h, w = select_best_resolution(tuple(int(v) for v in size), pin)
        grids.append((h // tile, w // tile))
        counts.append((h // tile) * (w // tile) + 1)
    tiles = np.concatenate([pixel_values[i, :n] for i, n in enumerate(counts)], axis=0)
    newline = len(tiles) * per_tile  # the row after the tile features
    index, offset = [], 0
    for (gh, gw), n, size in zip(grids, counts, np.asarray(image_sizes).tolist()):
        rows = np.arange(offset, offset + n * per_tile).reshape(n, per_tile)
        offset += n * per_tile
        if n == 1:
            index.append(np.concatenate([rows[0], [newline]]))
            continue
        grid = rows[1:].reshape(gh, gw, side, side).transpose(0, 2, 1, 3).reshape(gh * side, gw * side)
        grid = _unpad(grid, (int(size[0]), int(size[1])))
        ch, cw = grid.shape
        if math.sqrt(ch * cw / (max_tiles * side ** 2)) > 1.1:
            raise ShortcutError(f"an image of {size[1]}x{size[0]} px is pooled by LLaVA-OneVision "
                                f"({layout['vision_aspect_ratio']}), which the exported shortcut does not do; use "
                                "smaller images")
        grid = np.concatenate([grid, np.full((ch, 1), newline)], axis=1)
        index.append(np.concatenate([rows[0], grid.reshape(-1)]))
    return tiles.astype(np.float32), np.concatenate(index).astype(np.int64)


def _unpad(grid: np.ndarray, original: tuple[int, int]) -> np.ndarray:
    """transformers' ``unpad_image`` on a 2-D ``[height, width]`` grid."""
    oh, ow = original
    ch, cw = grid.shape
    if ow / oh > cw / ch:
        new_h = int(round(oh * (cw / ow), 7))
        pad = (ch - new_h) // 2
        return grid[pad:ch - pad, :]
    new_w = int(round(ow * (ch / oh), 7))
    pad = (cw - new_w) // 2
    return grid[:, pad:cw - pad]


__all__ = ["onevision_tiles"]

"""Per-family parts of the exported graph: image features and the language model's extra inputs.

Each family's module (built by ``sn_core.shortcut.graph.shortcut_module``) takes the inputs of
``sn_core.shortcut.prep.INPUT_NAMES[family]`` and returns ``(inputs_embeds, lm_kwargs, deepstack)``: the token
embeddings with the image features written into the image-token positions in order, the keyword arguments of
the language model's forward, and (Qwen3-VL) the DeepStack features to add after the first text layers.

Everything that depends on the batch's data through Python control flow is an input computed by
``sn_core.shortcut.prep``; what remains here is tensor code with a dynamic batch, prompt length and image-token
count:

- LLaVA: the vision tower run up to its feature layer(s) (embeddings, CLIP's ``pre_layrnorm``, encoder layers
  in turn; ``vision_feature_layer`` an int or a list, ``vision_feature_select_strategy``), then the projector,
  instead of ``LlavaModel.get_image_features``, whose ``list(image_features)`` fixes the batch at export.
- Gemma 3: ``get_image_features`` (tower + average-pool projector, a tensor per batch) and the model's own
  ``token_type_ids`` masks (bidirectional attention inside each image, sliding windows) built by
  ``Gemma3Model.forward``, which the graph calls with ``inputs_embeds``.
- SmolVLM / Idefics3: the vision model on the real tiles with their patch mask (as ``get_image_features``), the
  connector (pixel shuffle + projection); the embeddings' position buckets are counted against boundaries
  computed once outside the graph (``idefics_boundaries``), not searched with ``torch.bucketize``.
- Qwen-VL: the vision tower's own forward with the precomputed tensors transformers 5.24 accepts for
  ``torch.export`` (``position_ids``, ``cu_seqlens``, ``window_index``, ``interp_indices`` ...); its attention
  splits the patches per image with ``cu_seqlens.tolist()``, which the graph replaces by the same attention over
  all patches with a block-diagonal mask built from ``cu_seqlens`` (``masked_vision_attention``). M-RoPE
  positions come in as ``position_ids [3, batch, pos]``.
"""
from __future__ import annotations

import contextlib
import types

import torch


def scatter_rows(embeds: torch.Tensor, is_img: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``embeds.masked_scatter(is_img, rows)`` written as a cumulative-sum gather (exports with dynamic shapes):
    the n-th image token (row-major over the batch) takes row n."""
    order = (torch.cumsum(is_img.reshape(-1).to(torch.int64), 0) - 1).clamp(min=0)  # [batch*pos]
    gathered = rows.to(embeds.dtype)[order].reshape(embeds.shape)
    return torch.where(is_img.unsqueeze(-1), gathered, embeds)


# ------------------------------------------------------------------------------------------ LLaVA
def llava_image_rows(core, pixel_values: torch.Tensor) -> torch.Tensor:
    """``LlavaModel.get_image_features`` as one tensor ``[n_images * image_tokens, d_model]``: the tower's hidden
    states at ``vision_feature_layer`` (index into embeddings-then-every-layer, as ``hidden_states``), the select
    strategy, the projector."""
    tower, cfg = core.vision_tower, core.config
    layer = cfg.vision_feature_layer
    wanted = [layer] if isinstance(layer, int) else list(layer)
    blocks = tower.encoder.layers
    n = len(blocks) + 1  # hidden_states: the embeddings' output, then each layer's
    wanted = [w + n if w < 0 else w for w in wanted]
    hidden = tower.embeddings(pixel_values)
    if hasattr(tower, "pre_layrnorm"):  # CLIP: hidden_states[0] is after pre_layrnorm
        hidden = tower.pre_layrnorm(hidden)
    states = [hidden]
    for block in blocks[:max(wanted)]:
        hidden = block(hidden, None)
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        states.append(hidden)
    picked = [states[w] for w in wanted]
    if cfg.vision_feature_select_strategy == "default":
        picked = [h[:, 1:] for h in picked]
    feats = core.multi_modal_projector(picked[0] if len(picked) == 1 else torch.cat(picked, dim=-1))
    return feats.reshape(-1, feats.shape[-1])


def llava_embed(net, input_ids, attention_mask, pixel_values, feature_index=None):
    core = net.model
    lm = core.language_model
    embeds = lm.embed_tokens(input_ids)  # [batch, pos, d_model]
    rows = llava_image_rows(core, pixel_values)
    if feature_index is not None:  # OneVision: unpadded tiles + image-newline rows, in token order
        rows = torch.cat([rows.to(embeds.dtype), core.image_newline[None, :].to(embeds.dtype)], dim=0)[feature_index]
    embeds = scatter_rows(embeds, input_ids == int(net.config.image_token_index), rows)
    return embeds, {"attention_mask": attention_mask, "position_ids": _positions(attention_mask)}, None


def _positions(attention_mask):
    return (attention_mask.to(torch.int64).cumsum(-1) - 1).clamp(min=0)  # [batch, pos], as forward_inputs


# ------------------------------------------------------------------------------------------ Gemma 3
def gemma3_embed(net, input_ids, attention_mask, pixel_values, token_type_ids):
    core = net.model
    image_id = int(net.config.image_token_id)
    is_img = input_ids == image_id
    ids = input_ids
    if image_id >= core.vocab_size:  # as Gemma3Model.forward: the image token is not in the embedding table
        ids = torch.where(is_img, torch.zeros_like(input_ids), input_ids)
    embeds = core.get_input_embeddings()(ids)
    feats = core.get_image_features(pixel_values, return_dict=True).pooler_output  # [n_images, tokens, d_model]
    embeds = scatter_rows(embeds, is_img, feats.reshape(-1, feats.shape[-1]))
    return embeds, {"attention_mask": attention_mask, "position_ids": _positions(attention_mask),
                    "token_type_ids": token_type_ids}, None


# ------------------------------------------------------------------------------------------ SmolVLM / Idefics3
def idefics_boundaries(net) -> torch.Tensor:
    """The vision embeddings' bucket boundaries, ``torch.arange(1 / n, 1.0, 1 / n)`` for ``n`` patches per side,
    computed as the library computes them, once, outside the graph: inside it they would be an ONNX ``Range``
    whose float32 length onnxruntime computes one shorter than torch's float64 one for some ``n`` (the bucket
    search then reads past the end)."""
    n = net.model.vision_model.embeddings.num_patches_per_side
    return torch.arange(1 / n, 1.0, 1 / n)


def _tile_embeddings_forward(self, pixel_values, patch_attention_mask, boundaries):
    """``Idefics3VisionEmbeddings.forward`` (SmolVLM's is the same) with given ``boundaries`` and
    ``torch.bucketize(x, boundaries, right=True)`` written as the count of boundaries ``<= x``: the same
    position ids for every tile."""
    batch = pixel_values.shape[0]
    embeddings = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)  # [tiles, patches, d]
    coords = []
    for axis in (1, 2):
        n_real = patch_attention_mask[:, :, 0].sum(dim=1) if axis == 1 else patch_attention_mask[:, 0, :].sum(dim=1)
        idx = torch.arange(patch_attention_mask.size(axis), device=pixel_values.device, dtype=torch.float32)
        frac = torch.clamp(idx[None, :] * (1.0 / n_real)[:, None], max=(1.0 - 1e-6))  # [tiles, side]
        coords.append((frac[..., None] >= boundaries.to(frac.dtype)).sum(-1))  # [tiles, side]
    pos_ids = (coords[0][:, :, None] * self.num_patches_per_side + coords[1][:, None, :]).reshape(batch, -1)
    position_ids = torch.where(patch_attention_mask.view(batch, -1), pos_ids, torch.zeros_like(pos_ids))
    return embeddings + self.position_embedding(position_ids)


@contextlib.contextmanager
def tile_position_buckets(embeddings, boundaries):
    """Within the block, the vision embeddings run ``_tile_embeddings_forward`` with ``boundaries``."""
    def forward(self, pixel_values, patch_attention_mask):
        return _tile_embeddings_forward(self, pixel_values, patch_attention_mask, boundaries)

    embeddings.forward = types.MethodType(forward, embeddings)
    try:
        yield
    finally:
        del embeddings.forward


def idefics_embed(net, input_ids, attention_mask, pixel_values, pixel_attention_mask, boundaries=None):
    core = net.model
    embeds = core.text_model.get_input_embeddings()(input_ids)
    patch = int(core.config.vision_config.patch_size)
    sub = pixel_attention_mask.unfold(1, patch, patch).unfold(2, patch, patch)
    patch_mask = sub.sum(dim=(-1, -2)) > 0  # [tiles, h, w]
    bounds = idefics_boundaries(net) if boundaries is None else boundaries
    with tile_position_buckets(core.vision_model.embeddings, bounds):
        hidden = core.vision_model(pixel_values=pixel_values.to(embeds.dtype), patch_attention_mask=patch_mask,
                                   return_dict=True).last_hidden_state
    feats = core.connector(hidden)  # [tiles, image_seq_len, d_model]
    embeds = scatter_rows(embeds, input_ids == int(net.config.image_token_id), feats.reshape(-1, feats.shape[-1]))
    return embeds, {"attention_mask": attention_mask, "position_ids": _positions(attention_mask)}, None


# ------------------------------------------------------------------------------------------ Qwen-VL
def qwen_embed(net, input_ids, attention_mask, pixel_values, position_ids, vision_position_ids, cu_seqlens,
               *extra):
    core = net.model
    model_type = net.config.model_type
    embeds = core.get_input_embeddings()(input_ids)
    kw = {"position_ids": vision_position_ids, "cu_seqlens": cu_seqlens}
    if model_type == "qwen2_5_vl":
        kw["window_index"], kw["cu_window_seqlens"] = extra
    elif model_type == "qwen3_vl":
        kw["interp_indices"], kw["interp_weights"] = extra
    with masked_vision_attention(core.visual):
        out = core.visual(pixel_values.to(embeds.dtype), grid_thw=None, return_dict=True, **kw)
    is_img = input_ids == int(net.config.image_token_id)
    embeds = scatter_rows(embeds, is_img, out.pooler_output)
    deepstack = None
    if model_type == "qwen3_vl":
        deepstack = [(is_img, scatter_rows(torch.zeros_like(embeds), is_img, f))
                     for f in getattr(out, "deepstack_features", None) or []]
    return embeds, {"attention_mask": attention_mask, "position_ids": position_ids}, deepstack


def _masked_attention_forward(self, hidden_states, cu_seqlens, position_embeddings=None, **kwargs):
    """Qwen-VL vision attention over all patches with a block-diagonal mask from ``cu_seqlens`` (the library
    splits per image instead, which is the same attention)."""
    import sys

    rotary = sys.modules[type(self).__module__].apply_rotary_pos_emb_vision
    n = hidden_states.shape[0]
    q, k, v = self.qkv(hidden_states).reshape(n, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    cos, sin = position_embeddings
    q, k = rotary(q, k, cos, sin)
    pos = torch.arange(n, device=hidden_states.device)
    seg = (pos[:, None] >= cu_seqlens.to(pos.dtype)[None, 1:]).sum(-1)  # segment of each patch
    mask = (seg[:, None] == seg[None, :])[None, None]  # [1, 1, n, n]
    q, k, v = (t.transpose(0, 1).unsqueeze(0) for t in (q, k, v))  # [1, heads, n, d]
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scaling)
    return self.proj(out[0].transpose(0, 1).reshape(n, -1))


@contextlib.contextmanager
def masked_vision_attention(visual):
    """Within the block, each vision block's attention runs ``_masked_attention_forward``; restored after."""
    patched = []
    try:
        for blk in visual.blocks:
            blk.attn.forward = types.MethodType(_masked_attention_forward, blk.attn)
            patched.append(blk.attn)
        yield
    finally:
        for attn in patched:
            del attn.forward  # the instance attribute; the class's forward shows again


def qwen_layout(config) -> dict:
    """What ``sn_core.shortcut.prep`` needs to compute a Qwen-VL family's position inputs."""
    vc = config.vision_config
    out = {"spatial_merge_size": int(vc.spatial_merge_size), "patch_size": int(vc.patch_size)}
    if config.model_type == "qwen2_5_vl":
        out["window_size"] = int(vc.window_size)
    if config.model_type == "qwen3_vl":
        out["num_grid_per_side"] = int(int(vc.num_position_embeddings) ** 0.5)
        out["deepstack_visual_indexes"] = [int(i) for i in vc.deepstack_visual_indexes]
    return out


__all__ = ["gemma3_embed", "idefics_boundaries", "idefics_embed", "llava_embed", "llava_image_rows",
           "masked_vision_attention", "qwen_embed", "qwen_layout", "scatter_rows", "tile_position_buckets"]

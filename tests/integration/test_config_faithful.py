"""The test models are their checkpoints' real configurations, scaled (``sn_core.models.config_faithful``).

Each family's tiny model is compared with the config transformers builds from the stored ``config.json`` of its
example checkpoint: everything but widths, decoder depth, vocabulary and image size must be the checkpoint's.
Select with ``pytest -k config_faithful``.
"""
from __future__ import annotations

import pytest

from sn_core.models.config_faithful import BUILDS, checkpoint_files, real_config, scale_sections
from sn_core.models.tiny import FAMILIES, tiny_vlm

FAITHFUL = sorted(BUILDS)


def _text(cfg):
    return cfg.get_text_config()


def _rope(tc) -> dict:
    rp = dict(getattr(tc, "rope_parameters", None) or {})
    return {k: v for k, v in rp.items() if k != "mrope_section"}


@pytest.mark.parametrize("family", FAITHFUL)
def test_config_faithful_tiny_model_keeps_the_checkpoint_layout(family):
    real = real_config(family)
    model, proc = tiny_vlm(family, n_layers=2)
    cfg = model.config
    assert family in FAMILIES and cfg.model_type == real.model_type
    rt, tt = _text(real), _text(cfg)
    # scaled: widths, depth, vocabulary
    assert (tt.hidden_size, tt.intermediate_size, tt.num_hidden_layers) == (32, 64, 2)
    assert tt.vocab_size == len(proc.tokenizer)
    # kept: attention kind, rope, tied embeddings, layer types, text model class
    assert type(tt) is type(rt)
    assert (tt.num_key_value_heads < tt.num_attention_heads) == (rt.num_key_value_heads < rt.num_attention_heads)
    assert _rope(tt) == _rope(rt)
    if (rt.rope_parameters or {}).get("mrope_section"):
        sec = tt.rope_parameters["mrope_section"]
        assert sum(sec) == tt.head_dim // 2 and len(sec) == len(rt.rope_parameters["mrope_section"])
    assert bool(cfg.tie_word_embeddings) == bool(real.tie_word_embeddings)
    assert (model.get_output_embeddings().weight is model.get_input_embeddings().weight) == bool(
        real.tie_word_embeddings)
    if getattr(rt, "layer_types", None):
        assert tt.layer_types == rt.layer_types[:2]
    # kept: the vision tower (kind and depth) and how its features are read and projected
    rv, tv = real.vision_config, cfg.vision_config
    assert type(tv) is type(rv)
    for key in ("num_hidden_layers", "depth", "deepstack_visual_indexes", "fullatt_block_indexes", "hidden_act",
                "spatial_merge_size", "temporal_patch_size", "num_position_embeddings", "vision_use_head"):
        if hasattr(rv, key):
            assert getattr(tv, key) == getattr(rv, key), key
    for key in ("vision_feature_layer", "vision_feature_select_strategy", "projector_hidden_act", "scale_factor",
                "vision_aspect_ratio", "use_image_newline_parameter"):
        if hasattr(real, key):
            assert getattr(cfg, key) == getattr(real, key), key
    # kept: the image processor's normalisation and resampling, and the special tokens' roles
    pre = checkpoint_files(family)["preprocessor_config.json"]
    ip = proc.image_processor
    for key in ("image_mean", "image_std", "do_center_crop", "do_image_splitting"):
        if key in pre:
            got = getattr(ip, key)
            assert (list(got) if isinstance(pre[key], list) else got) == pre[key], key
    image_id = next(getattr(cfg, k) for k in ("image_token_id", "image_token_index") if hasattr(cfg, k))
    assert proc.tokenizer.convert_ids_to_tokens(int(image_id)) == proc.tokenizer.image_token
    assert proc.tokenizer.eos_token_id is not None


def test_config_faithful_llava_1_5_is_the_clip_layout():
    """LLaVA-1.5: CLIP tower, second-to-last layer, strategy default (class token dropped): a 16 px image of
    4 px patches gives 16 image tokens, and the model accepts them."""
    import torch
    from PIL import Image

    model, proc = tiny_vlm("llava_1_5")
    assert type(model.model.vision_tower).__name__ == "CLIPVisionModel"
    assert (model.config.vision_feature_layer, model.config.vision_feature_select_strategy) == (-2, "default")
    prompt = proc.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                                                                    {"type": "text", "text": "color?"}]}],
                                      add_generation_prompt=True)
    assert prompt.startswith("USER: <image>\n") and prompt.endswith("ASSISTANT:")
    batch = proc(images=[Image.new("RGB", (40, 30), "red")], text=[prompt], return_tensors="pt")
    assert int((batch["input_ids"] == model.config.image_token_index).sum()) == 16
    with torch.inference_mode():
        assert torch.isfinite(model(**batch).logits).all()


def test_config_faithful_real_mode_keeps_every_width():
    """``real`` mode: the checkpoint's widths and vocabulary, only the decoder cut (built on the meta device)."""
    import torch

    from sn_core.models.config_faithful import full_depth, text_dict

    with torch.device("meta"):
        model, _ = BUILDS["qwen3_vl"].builder(checkpoint_files("qwen3_vl"), "real", 2, 0, 0)
    rt = text_dict(real_config("qwen3_vl"))
    tt = model.config.text_config
    assert (tt.hidden_size, tt.intermediate_size, tt.head_dim, tt.vocab_size) == (
        rt["hidden_size"], rt["intermediate_size"], rt["head_dim"], rt["vocab_size"])
    assert tt.num_hidden_layers == 2 and full_depth(model.config) == rt["num_hidden_layers"]
    assert model.config.vision_config.hidden_size == real_config("qwen3_vl").vision_config.hidden_size


@pytest.mark.parametrize("sections,half,expected", [([24, 20, 20], 4, [2, 1, 1]), ([16, 24, 24], 4, [1, 2, 1]),
                                                     ([16, 24, 24], 64, [16, 24, 24]), ([24, 20, 20], 8, [3, 3, 2])])
def test_config_faithful_mrope_sections_scale_in_proportion(sections, half, expected):
    assert scale_sections(sections, half) == expected


def test_shallow_vision_keeps_the_block_pattern_and_the_stored_files():
    """``vision_layers``: the tower is cut, the block-kind indexes keep their pattern, the stored configs stay."""
    import copy

    from sn_core.models.config_faithful import checkpoint_files
    from sn_core.models.faithful_configs import shallow_vision_files
    from sn_core.models.tiny import tiny_vlm

    files = checkpoint_files("qwen2_5_vl")
    before = copy.deepcopy(files)
    vc = shallow_vision_files(files, 8)["config.json"]["vision_config"]
    assert vc["depth"] == 8 and vc["fullatt_block_indexes"] == [1, 3, 5, 7]  # every fourth block, as 7/15/23/31
    assert files == before
    assert shallow_vision_files(checkpoint_files("qwen3_vl"), 8)["config.json"]["vision_config"][
        "deepstack_visual_indexes"] == [1, 3, 5]
    assert shallow_vision_files(checkpoint_files("qwen2_vl"), 4)["config.json"]["vision_config"]["depth"] == 4
    with pytest.raises(ValueError, match="too shallow for deepstack_visual_indexes"):
        shallow_vision_files(checkpoint_files("qwen3_vl"), 2)
    with pytest.raises(ValueError, match="vision depth must be 1..27"):
        shallow_vision_files(checkpoint_files("gemma3"), 40)
    model, _ = tiny_vlm("qwen3_vl", vision_layers=8)
    assert len(model.model.visual.blocks) == 8 and model.config.vision_config.deepstack_visual_indexes == [1, 3, 5]
    model, _ = tiny_vlm("smolvlm", vision_layers=3)
    assert len(model.model.vision_model.encoder.layers) == 3

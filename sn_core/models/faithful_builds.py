"""The family builders of the config-faithful models (:mod:`sn_core.models.config_faithful`): one function per
family's example checkpoint, ``(files, mode, n_layers, d_model, d_mlp) -> (model, processor)``, registered in
:data:`sn_core.models.faithful_configs.BUILDS`. Token ids come from the offline word-level tokenizer
(:func:`sn_core.models.tokenizers.tiny_tokenizer`); chat templates reproduce each family's turn and
image-placeholder layout."""
from __future__ import annotations

import copy

from sn_core.models.faithful_configs import (TINY_VISION, finish, register, scaled_text, scaled_vision, special_ids,
                                             strip_bookkeeping, token_id, tokenizer)
from sn_core.models.tokenizers import family_chat_template as _template


@register("llava_1_5", "llava", "llava-hf/llava-1.5-7b-hf")
def _llava_1_5(files, mode, n_layers, d_model, d_mlp):
    """LLaVA-1.5: CLIP ViT-L/14 tower read at ``vision_feature_layer`` -2 with strategy ``default`` (the class
    token dropped), a 2-layer GELU projector, a Vicuna (Llama) decoder, untied embeddings."""
    from transformers import CLIPImageProcessorPil, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    cfg, pre, pc = files["config.json"], files["preprocessor_config.json"], files["processor_config.json"]
    tpl = _template("USER: ", " ", "<image>\n", "ASSISTANT:")
    tok = tokenizer(["<s>", "</s>", "<image>"], tpl, {"image_token": "<image>"}, bos="<s>", eos="</s>")
    vc = cfg["vision_config"]
    tile = 16 if mode == "tiny" else int(vc["image_size"])
    vision = scaled_vision(vc, mode, image_size=tile)
    patch = int(vision["patch_size"])
    strategy = cfg["vision_feature_select_strategy"]
    n_img = (tile // patch) ** 2  # "default" drops CLIP's class token: one token per patch
    real = LlavaConfig(**copy.deepcopy(cfg))
    text = scaled_text(real.text_config.to_dict(), n_layers, mode, d_model, d_mlp, len(tok), special_ids(tok))
    conf = LlavaConfig(**{**strip_bookkeeping(cfg), "text_config": text, "vision_config": vision,
                          "image_token_index": token_id(tok, "<image>"), "pad_token_id": tok.pad_token_id,
                          "image_seq_length": n_img})
    ip_kwargs = {k: v for k, v in pre.items() if k not in ("image_processor_type", "processor_class")}
    if mode == "tiny":
        ip_kwargs.update(size={"shortest_edge": tile}, crop_size={"height": tile, "width": tile})
    proc = LlavaProcessor(image_processor=CLIPImageProcessorPil(**ip_kwargs), tokenizer=tok, patch_size=patch,
                          vision_feature_select_strategy=strategy, chat_template=tpl, image_token="<image>",
                          num_additional_image_tokens=int(pc["num_additional_image_tokens"]))
    return finish(LlavaForConditionalGeneration(conf), tok), proc


@register("llava_onevision", "llava_onevision", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf")
def _llava_onevision(files, mode, n_layers, d_model, d_mlp):
    """LLaVA-OneVision: SigLIP tower (last layer, strategy ``full``), anyres tiling over the checkpoint's grid
    pinpoints (multiples of the tile), ``anyres_max_9``, image newline, Qwen2 decoder with tied embeddings."""
    from transformers import (LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration,
                              LlavaOnevisionImageProcessorPil, LlavaOnevisionProcessor)

    from sn_core.models.processors import image_only

    cfg, pre, pc = files["config.json"], files["preprocessor_config.json"], files["processor_config.json"]
    tpl = _template("<|im_start|>{role}\n", "<|im_end|>\n", "<image>\n", "<|im_start|>assistant\n")
    tok = tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"], tpl,
                    {"image_token": "<image>", "video_token": "<video>"}, eos="<|im_end|>")
    vc = cfg["vision_config"]
    real_tile = int(vc["image_size"])
    tile = 16 if mode == "tiny" else real_tile
    vision = scaled_vision(vc, mode, image_size=tile)
    pinpoints = [[h * tile // real_tile, w * tile // real_tile] for h, w in cfg["image_grid_pinpoints"]]
    real = LlavaOnevisionConfig(**copy.deepcopy(cfg))
    text = scaled_text(real.text_config.to_dict(), n_layers, mode, d_model, d_mlp, len(tok),
                       dict(bos_token_id=None, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    conf = LlavaOnevisionConfig(**{**strip_bookkeeping(cfg), "text_config": text, "vision_config": vision,
                                   "image_grid_pinpoints": pinpoints, "image_token_index": token_id(tok, "<image>"),
                                   "video_token_index": token_id(tok, "<video>")})
    ip_kwargs = {k: v for k, v in pre.items() if k not in ("image_processor_type", "processor_class")}
    ip_kwargs.update(size={"height": tile, "width": tile}, image_grid_pinpoints=pinpoints)
    n_img = (tile // int(vision["patch_size"])) ** 2
    proc = image_only(LlavaOnevisionProcessor)(
        image_processor=LlavaOnevisionImageProcessorPil(**ip_kwargs), tokenizer=tok, chat_template=tpl,
        num_image_tokens=n_img, vision_feature_select_strategy=pc["vision_feature_select_strategy"],
        vision_aspect_ratio=pc.get("vision_aspect_ratio", cfg.get("vision_aspect_ratio", "anyres_max_9")))
    return finish(LlavaOnevisionForConditionalGeneration(conf), tok), proc


QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                 "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
QWEN_EXTRA = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
              "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"}
QWEN_TOKEN_KEYS = {"image_token_id": "<|image_pad|>", "video_token_id": "<|video_pad|>",
                   "vision_start_token_id": "<|vision_start|>", "vision_end_token_id": "<|vision_end|>",
                   "vision_token_id": "<|vision_pad|>"}


def _qwen(files, mode, n_layers, d_model, d_mlp, config_cls, model_cls, processor_cls, system: str | None,
          vision_fn):
    from transformers import Qwen2VLImageProcessorPil

    from sn_core.models.processors import image_only

    cfg, pre = files["config.json"], files["preprocessor_config.json"]
    tpl = _template("<|im_start|>{role}\n", "<|im_end|>\n", "<|vision_start|><|image_pad|><|vision_end|>",
                    "<|im_start|>assistant\n", system=system)
    tok = tokenizer(QWEN_SPECIALS, tpl, QWEN_EXTRA, eos="<|im_end|>")
    real = config_cls(**copy.deepcopy(cfg))
    text = scaled_text(real.text_config.to_dict(), n_layers, mode, d_model, d_mlp, len(tok),
                       dict(bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"), eos_token_id=tok.eos_token_id,
                            pad_token_id=tok.pad_token_id))
    vision = vision_fn(real.vision_config.to_dict(), mode, text["hidden_size"])
    patch, merge = int(vision["patch_size"]), int(vision["spatial_merge_size"])
    top = {k: v for k, v in strip_bookkeeping(real.to_dict()).items() if k not in ("text_config", "vision_config")}
    top.update({k: token_id(tok, name) for k, name in QWEN_TOKEN_KEYS.items() if k in top})
    conf = config_cls(**{**top, "text_config": text, "vision_config": vision})
    ip_kwargs = {k: v for k, v in pre.items()
                 if k not in ("image_processor_type", "processor_class", "min_pixels", "max_pixels", "size")}
    ip_kwargs.update(patch_size=patch, merge_size=merge, temporal_patch_size=int(vision["temporal_patch_size"]))
    if mode == "tiny":  # a fixed grid of 2x2 merged cells (16 px for patch 4): min_pixels = max_pixels
        px = (2 * patch * merge) ** 2
        ip_kwargs.update(size={"shortest_edge": px, "longest_edge": px})
    else:
        size = pre.get("size") or {"shortest_edge": pre["min_pixels"], "longest_edge": pre["max_pixels"]}
        ip_kwargs.update(size=size)
    proc = image_only(processor_cls)(image_processor=Qwen2VLImageProcessorPil(**ip_kwargs), tokenizer=tok,
                                     chat_template=tpl)
    return finish(model_cls(conf), tok), proc


@register("qwen2_vl", "qwen2_vl", "Qwen/Qwen2-VL-2B-Instruct")
def _qwen2_vl(files, mode, n_layers, d_model, d_mlp):
    """Qwen2-VL: 32-block ViT (patch 14, merge 2, temporal patch 2), M-RoPE [16, 24, 24], tied embeddings,
    default system turn."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    def vision(v, mode, text_width):
        v = strip_bookkeeping(v)
        v["hidden_size"] = text_width  # the merger's output: the text width
        if mode == "tiny":
            v.update(embed_dim=TINY_VISION["width"], num_heads=TINY_VISION["heads"], patch_size=TINY_VISION["patch"])
        return v

    return _qwen(files, mode, n_layers, d_model, d_mlp, Qwen2VLConfig, Qwen2VLForConditionalGeneration,
                 Qwen2VLProcessor, "You are a helpful assistant.", vision)


@register("qwen2_5_vl", "qwen2_5_vl", "Qwen/Qwen2.5-VL-3B-Instruct")
def _qwen2_5_vl(files, mode, n_layers, d_model, d_mlp):
    """Qwen2.5-VL: 32-block windowed ViT with full attention at blocks 7, 15, 23, 31, SwiGLU vision MLP, M-RoPE
    [16, 24, 24], tied embeddings, default system turn. Tiny: the attention window is one merged cell (the real
    112 px window is 4x4 merged cells of a 448 px image; the tiny image has only 2x2)."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    def vision(v, mode, text_width):
        v = strip_bookkeeping(v)
        v["out_hidden_size"] = text_width
        if mode == "tiny":
            v.update(hidden_size=TINY_VISION["width"], intermediate_size=TINY_VISION["mlp"],
                     num_heads=TINY_VISION["heads"], patch_size=TINY_VISION["patch"],
                     window_size=TINY_VISION["patch"] * int(v["spatial_merge_size"]))
        return v

    return _qwen(files, mode, n_layers, d_model, d_mlp, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration,
                 Qwen2_5_VLProcessor, "You are a helpful assistant.", vision)


@register("qwen3_vl", "qwen3_vl", "Qwen/Qwen3-VL-2B-Instruct")
def _qwen3_vl(files, mode, n_layers, d_model, d_mlp):
    """Qwen3-VL (dense): 24-block ViT (patch 16) with learned position embeddings and DeepStack features of
    blocks 5, 11, 17 added after text layers 0, 1, 2; interleaved M-RoPE [24, 20, 20]; tied embeddings; no
    default system turn."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

    def vision(v, mode, text_width):
        v = strip_bookkeeping(v)
        v["out_hidden_size"] = text_width
        if mode == "tiny":
            v.update(hidden_size=TINY_VISION["width"], intermediate_size=TINY_VISION["mlp"],
                     num_heads=TINY_VISION["heads"], patch_size=TINY_VISION["patch"])
        return v

    return _qwen(files, mode, n_layers, d_model, d_mlp, Qwen3VLConfig, Qwen3VLForConditionalGeneration,
                 Qwen3VLProcessor, None, vision)


def _idefics_like(files, mode, n_layers, d_model, d_mlp, smol: bool):
    from sn_core.models.processors import image_only

    cfg, pre, pc = files["config.json"], files["preprocessor_config.json"], files["processor_config.json"]
    specials = ["<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>", "<global-img>"]
    specials += [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    tpl = _template("{role}:", "<end_of_utterance>\n", "<image>", "Assistant:", prefix="<|im_start|>").replace(
        "{{ m['role'] }}", "{{ m['role'] | capitalize }}")
    extra = {"image_token": "<image>", "fake_image_token": "<fake_token_around_image>",
             "global_image_token": "<global-img>", "end_of_utterance_token": "<end_of_utterance>"}
    tok = tokenizer(specials, tpl, extra, bos="<|im_start|>", eos="<end_of_utterance>")
    vc = cfg["vision_config"]
    real_tile = int(vc["image_size"])
    # tiny: 24 px tiles of 4 px patches (6x6), pixel-shuffled by the real scale factor 3 -> 2x2 = 4 tokens a tile
    tile = 8 * int(cfg["scale_factor"]) if mode == "tiny" else real_tile
    vision = scaled_vision(vc, mode, image_size=tile, max_image_size={"longest_edge": tile})
    patch = int(vision["patch_size"])
    seq_len = (tile // patch) ** 2 // int(cfg["scale_factor"]) ** 2  # image tokens a tile
    if mode == "real" and seq_len != int(pc["image_seq_len"]):
        raise ValueError(f"{cfg['model_type']}: image_seq_len {pc['image_seq_len']} in processor_config.json, "
                         f"{seq_len} from the vision config")
    from transformers import CONFIG_MAPPING
    real = CONFIG_MAPPING[cfg["model_type"]](**copy.deepcopy(cfg))
    text = scaled_text(real.text_config.to_dict(), n_layers, mode, d_model, d_mlp, len(tok),
                       special_ids(tok))
    top = {k: v for k, v in strip_bookkeeping(cfg).items() if k not in ("text_config", "vision_config")}
    top.update(image_token_id=token_id(tok, "<image>"), pad_token_id=tok.pad_token_id)
    if "image_seq_len" in top:
        top["image_seq_len"] = seq_len
    ip_kwargs = {k: v for k, v in pre.items() if k not in ("image_processor_type", "processor_class")}
    edge_ratio = int(pre["size"]["longest_edge"]) // int(pre["max_image_size"]["longest_edge"])  # 4 tiles a side
    ip_kwargs.update(size={"longest_edge": edge_ratio * tile}, max_image_size={"longest_edge": tile})
    if smol:
        from transformers import (SmolVLMConfig, SmolVLMForConditionalGeneration, SmolVLMImageProcessorPil,
                                  SmolVLMProcessor)

        conf = SmolVLMConfig(**{**top, "text_config": text, "vision_config": vision})
        proc = image_only(SmolVLMProcessor)(image_processor=SmolVLMImageProcessorPil(**ip_kwargs), tokenizer=tok,
                                            chat_template=tpl, image_seq_len=seq_len)
        return finish(SmolVLMForConditionalGeneration(conf), tok), proc
    from transformers import (Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessorPil,
                              Idefics3Processor)

    conf = Idefics3Config(**{**top, "text_config": text, "vision_config": vision})
    proc = Idefics3Processor(image_processor=Idefics3ImageProcessorPil(**ip_kwargs), tokenizer=tok,
                             chat_template=tpl, image_seq_len=seq_len)
    return finish(Idefics3ForConditionalGeneration(conf), tok), proc


@register("smolvlm", "smolvlm", "HuggingFaceTB/SmolVLM2-2.2B-Instruct")
def _smolvlm(files, mode, n_layers, d_model, d_mlp):
    """SmolVLM2: SigLIP-style tower on 384 px tiles, pixel shuffle by 3 (81 tokens a tile), image split into
    up to 4x4 tiles plus a global view, SmolLM2 (Llama, multi-head) decoder, untied embeddings."""
    return _idefics_like(files, mode, n_layers, d_model, d_mlp, smol=True)


@register("idefics3", "idefics3", "HuggingFaceTB/SmolVLM-Instruct")
def _idefics3(files, mode, n_layers, d_model, d_mlp):
    """SmolVLM v1 (``idefics3``): the same layout under the Idefics3 classes."""
    return _idefics_like(files, mode, n_layers, d_model, d_mlp, smol=False)


@register("gemma3", "gemma3", "google/gemma-3-4b-it")
def _gemma3(files, mode, n_layers, d_model, d_mlp):
    """Gemma 3: SigLIP tower (896 px, patch 14, no head) average-pooled 4x4 to 256 tokens; five sliding-window
    (1024) layers per global one; linear rope scaling x8 on global layers; tied embeddings; bidirectional
    attention among one image's tokens. Tiny: 32 px images of 4 px patches pooled 4x4 to 2x2 = 4 tokens (the real
    pooling kernel), sliding window 1024 * 4/256 = 16 (the real window over image-token ratio)."""
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessorPil, Gemma3Processor

    cfg, pre = files["config.json"], files["preprocessor_config.json"]
    specials = ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>",
                "<image_soft_token>"]
    tpl = _template("<start_of_turn>{role}\n", "<end_of_turn>\n", "<start_of_image>", "<start_of_turn>model\n",
                    prefix="<bos>").replace("{{ m['role'] }}",
                                            "{{ 'model' if m['role'] == 'assistant' else m['role'] }}")
    extra = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    tok = tokenizer(specials, tpl, extra, bos="<bos>", eos="<eos>")
    real = Gemma3Config(**copy.deepcopy(cfg))
    vc = cfg["vision_config"]
    real_tokens = int(cfg["mm_tokens_per_image"])
    kernel = (int(vc["image_size"]) // int(vc["patch_size"])) // int(real_tokens ** 0.5)
    if mode == "tiny":
        tokens = 4
        tile = int(tokens ** 0.5) * kernel * TINY_VISION["patch"]
    else:
        tokens, tile = real_tokens, int(vc["image_size"])
    vision = scaled_vision(vc, mode, image_size=tile)
    text = scaled_text(real.text_config.to_dict(), n_layers, mode, d_model, d_mlp, len(tok),
                       special_ids(tok))
    if mode == "tiny" and text.get("sliding_window"):
        text["sliding_window"] = max(1, int(text["sliding_window"]) * tokens // real_tokens)
    top = {k: v for k, v in strip_bookkeeping(cfg).items() if k not in ("text_config", "vision_config")}
    top.update(boi_token_index=token_id(tok, "<start_of_image>"), eoi_token_index=token_id(tok, "<end_of_image>"),
               image_token_index=token_id(tok, "<image_soft_token>"), mm_tokens_per_image=tokens,
               eos_token_id=[tok.eos_token_id, token_id(tok, "<end_of_turn>")])
    conf = Gemma3Config(**{**top, "text_config": text, "vision_config": vision})
    ip_kwargs = {k: v for k, v in pre.items() if k not in ("image_processor_type", "processor_class")
                 and v is not None and not k.startswith("pan_and_scan") and k != "image_seq_length"}
    ip_kwargs.update(size={"height": tile, "width": tile}, do_pan_and_scan=False)
    proc = Gemma3Processor(image_processor=Gemma3ImageProcessorPil(**ip_kwargs), tokenizer=tok, chat_template=tpl,
                           image_seq_length=tokens)
    model = Gemma3ForConditionalGeneration(conf)
    # transformers initialises the projector's input matrix to zeros (a trained checkpoint overwrites it): random
    # weights would then never let an image reach the language model, and no test could see image handling break.
    torch.nn.init.normal_(model.model.multi_modal_projector.mm_input_projection_weight,
                          std=0.2 if mode == "tiny" else 0.02)
    return finish(model, tok), proc

"""Models built from each family's real checkpoint configuration, with only sizes changed.

``sn_core/checkpoint_configs/<family>/`` holds the ``config.json`` and processor configs of each family's example
checkpoint (their sources: the ``README.md`` there). :func:`build_family` reads them and builds a random-weight
model and its processor in one of two modes:

- ``"tiny"`` (tests, ``python -m sn_core.tiny_models``): text widths, vocabulary and image size scaled down; the
  decoder cut to ``n_layers``; the vision tower keeps its real depth at a width of 32. Everything else is the
  checkpoint's own: vision tower kind, ``vision_feature_layer`` and select strategy, projector kind and activation,
  rope type/theta/scaling, M-RoPE sections (rescaled to the tiny head size in proportion), DeepStack indexes,
  full-attention block indexes, tied embeddings, layer types (sliding / full), grouped vs multi-head attention,
  the image processor's normalisation and resampling, and the special tokens (their names and roles).
- ``"real"`` (``bench/real_width.py``): every width, the vocabulary size and the image resolution are the
  checkpoint's; only the decoder is cut to ``n_layers`` (``n_layers_total`` of the checkpoint is kept in the
  config's ``sn_full_depth`` so FLOP limits can be computed for the full-depth model).

Token ids come from the offline word-level tokenizer (:func:`sn_core.tiny_models.tiny_tokenizer`), which holds the
family's special tokens; the config's token-id fields point at them. Chat templates reproduce each family's turn
and image-placeholder layout.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent / "checkpoint_configs"
MODES = ("tiny", "real")

# tiny text model: 4 heads of d_model // 4; key/value heads 2 (grouped) or 4 (when the checkpoint is multi-head)
TINY_HEADS = 4
TINY_VISION = dict(width=32, mlp=64, heads=2, patch=4)


def checkpoint_files(family: str) -> dict[str, dict]:
    """The stored JSON files of ``family``'s example checkpoint, by file name."""
    folder = CONFIG_DIR / family
    if not folder.is_dir():
        raise ValueError(f"no checkpoint configs for {family!r} in {CONFIG_DIR}")
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def real_config(family: str):
    """The example checkpoint's full config object (transformers' class, hub values, class defaults elsewhere)."""
    from transformers import CONFIG_MAPPING

    raw = checkpoint_files(family)["config.json"]
    return CONFIG_MAPPING[raw["model_type"]](**copy.deepcopy(raw))


# ----------------------------------------------------------------------------------------------------- scaling
_NOT_ARCHITECTURE = ("architectures", "_name_or_path", "torch_dtype", "dtype", "transformers_version")


def _strip(d: dict) -> dict:
    """A deep copy without bookkeeping keys (the storage dtype too: every build is float32 until loaded)."""
    if isinstance(d, dict):
        return {k: _strip(v) for k, v in d.items() if k not in _NOT_ARCHITECTURE}
    return copy.deepcopy(d)


def scale_sections(sections: list[int], half: int) -> list[int]:
    """M-RoPE (time, height, width) sections rescaled to sum to ``half`` (head_dim / 2), in proportion, largest
    remainders first, each at least 1."""
    total = sum(sections)
    exact = [s * half / total for s in sections]
    out = [max(1, int(x)) for x in exact]
    order = sorted(range(len(out)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    i = 0
    while sum(out) < half:
        out[order[i % len(out)]] += 1
        i += 1
    while sum(out) > half:
        j = max(range(len(out)), key=lambda k: out[k])
        out[j] -= 1
    return out


def _rescale_mrope(obj, half: int):
    if isinstance(obj, dict):
        return {k: (scale_sections(v, half) if k == "mrope_section" and isinstance(v, list) else _rescale_mrope(v, half))
                for k, v in obj.items()}
    return obj


def _layer_types(real: list[str] | None, n: int) -> list[str] | None:
    if not real:
        return None
    return [real[i % len(real)] for i in range(n)]


def _text_dict(cfg) -> dict:
    tc = cfg.text_config if hasattr(cfg, "text_config") and cfg.text_config is not None else cfg
    return tc.to_dict()


def scaled_text(real_text: dict, n_layers: int, mode: str, d_model: int, d_mlp: int, vocab: int,
                ids: dict[str, int | list[int] | None]) -> dict:
    """The text config dict: ``real_text`` with the decoder cut to ``n_layers`` and, in tiny mode, widths set."""
    t = _strip(real_text)
    full_layers = int(t["num_hidden_layers"])
    real_heads = int(t["num_attention_heads"])
    real_kv = int(t.get("num_key_value_heads") or real_heads)
    real_hd = int(t.get("head_dim") or t["hidden_size"] // real_heads)
    t["num_hidden_layers"] = n_layers
    t["layer_types"] = _layer_types(t.get("layer_types"), n_layers)
    if t["layer_types"] is None:
        t.pop("layer_types")
    t["vocab_size"] = max(int(t.get("vocab_size") or 0), vocab) if mode == "real" else vocab
    if mode == "tiny":
        if d_model % (2 * TINY_HEADS):
            raise ValueError(f"d_model must be a multiple of 8 (4 heads with an even head_dim), got {d_model}")
        hd = d_model // TINY_HEADS
        t.update(hidden_size=d_model, intermediate_size=d_mlp, num_attention_heads=TINY_HEADS,
                 num_key_value_heads=TINY_HEADS if real_kv == real_heads else TINY_HEADS // 2, head_dim=hd)
        if t.get("query_pre_attn_scalar"):  # Gemma: the attention scale follows the head size
            t["query_pre_attn_scalar"] = max(1, round(float(t["query_pre_attn_scalar"]) * hd / real_hd))
        for key in ("rope_parameters", "rope_scaling"):
            if t.get(key):
                t[key] = _rescale_mrope(t[key], hd // 2)
    for k, v in ids.items():
        if k in t or k in ("bos_token_id", "eos_token_id", "pad_token_id"):
            t[k] = v
    if mode == "real":
        t["sn_full_depth"] = full_layers
    return t


# ----------------------------------------------------------------------------------------------------- families
@dataclass(frozen=True)
class FamilyBuild:
    name: str
    model_type: str
    checkpoint: str
    builder: callable  # (files, mode, n_layers, d_model, d_mlp) -> (model, processor)


BUILDS: dict[str, FamilyBuild] = {}


def _register(name: str, model_type: str, checkpoint: str):
    def deco(fn):
        BUILDS[name] = FamilyBuild(name, model_type, checkpoint, fn)
        return fn
    return deco


def _tok(specials, tpl, extra, bos=None, eos=None, pad="<pad>"):
    from .tiny_models import tiny_tokenizer
    return tiny_tokenizer(specials, tpl, extra, bos=bos, eos=eos, pad=pad)


def _id(tok, name: str) -> int:
    i = tok.convert_tokens_to_ids(name)
    if i is None or i == tok.unk_token_id:
        raise ValueError(f"token {name!r} missing from the tiny tokenizer")
    return int(i)


def _vision(vc: dict, mode: str, *, width_key="hidden_size", mlp_key="intermediate_size",
            heads_key="num_attention_heads", patch_key="patch_size", **sizes) -> dict:
    v = _strip(vc)
    if mode == "tiny":
        v[width_key] = TINY_VISION["width"]
        if mlp_key:
            v[mlp_key] = TINY_VISION["mlp"]
        v[heads_key] = TINY_VISION["heads"]
        v[patch_key] = TINY_VISION["patch"]
    v.update(sizes)
    return v


def _finish(model, tok):
    gc = model.generation_config
    gc.pad_token_id, gc.eos_token_id, gc.bos_token_id = tok.pad_token_id, tok.eos_token_id, tok.bos_token_id
    gc.do_sample = False
    return model


def _llava_like_text_ids(tok) -> dict:
    return dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)


@_register("llava_1_5", "llava", "llava-hf/llava-1.5-7b-hf")
def _llava_1_5(files, mode, n_layers, d_model, d_mlp):
    """LLaVA-1.5: CLIP ViT-L/14 tower read at ``vision_feature_layer`` -2 with strategy ``default`` (the class
    token dropped), a 2-layer GELU projector, a Vicuna (Llama) decoder, untied embeddings."""
    from transformers import CLIPImageProcessorPil, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    from .tiny_models import _template

    cfg, pre, pc = files["config.json"], files["preprocessor_config.json"], files["processor_config.json"]
    tpl = _template("USER: ", " ", "<image>\n", "ASSISTANT:")
    tok = _tok(["<s>", "</s>", "<image>"], tpl, {"image_token": "<image>"}, bos="<s>", eos="</s>")
    vc = cfg["vision_config"]
    tile = 16 if mode == "tiny" else int(vc["image_size"])
    vision = _vision(vc, mode, image_size=tile)
    patch = int(vision["patch_size"])
    strategy = cfg["vision_feature_select_strategy"]
    n_img = (tile // patch) ** 2  # "default" drops CLIP's class token: one token per patch
    real = LlavaConfig(**copy.deepcopy(cfg))
    text = scaled_text(real.text_config.to_dict(), n_layers, mode, d_model, d_mlp, len(tok), _llava_like_text_ids(tok))
    conf = LlavaConfig(**{**_strip(cfg), "text_config": text, "vision_config": vision,
                          "image_token_index": _id(tok, "<image>"), "pad_token_id": tok.pad_token_id,
                          "image_seq_length": n_img})
    ip_kwargs = {k: v for k, v in pre.items() if k not in ("image_processor_type", "processor_class")}
    if mode == "tiny":
        ip_kwargs.update(size={"shortest_edge": tile}, crop_size={"height": tile, "width": tile})
    proc = LlavaProcessor(image_processor=CLIPImageProcessorPil(**ip_kwargs), tokenizer=tok, patch_size=patch,
                          vision_feature_select_strategy=strategy, chat_template=tpl, image_token="<image>",
                          num_additional_image_tokens=int(pc["num_additional_image_tokens"]))
    return _finish(LlavaForConditionalGeneration(conf), tok), proc


@_register("llava_onevision", "llava_onevision", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf")
def _llava_onevision(files, mode, n_layers, d_model, d_mlp):
    """LLaVA-OneVision: SigLIP tower (last layer, strategy ``full``), anyres tiling over the checkpoint's grid
    pinpoints (multiples of the tile), ``anyres_max_9``, image newline, Qwen2 decoder with tied embeddings."""
    from transformers import (LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration,
                              LlavaOnevisionImageProcessorPil, LlavaOnevisionProcessor)

    from .models.processors import image_only
    from .tiny_models import _template

    cfg, pre, pc = files["config.json"], files["preprocessor_config.json"], files["processor_config.json"]
    tpl = _template("<|im_start|>{role}\n", "<|im_end|>\n", "<image>\n", "<|im_start|>assistant\n")
    tok = _tok(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"], tpl,
               {"image_token": "<image>", "video_token": "<video>"}, eos="<|im_end|>")
    vc = cfg["vision_config"]
    real_tile = int(vc["image_size"])
    tile = 16 if mode == "tiny" else real_tile
    vision = _vision(vc, mode, image_size=tile)
    pinpoints = [[h * tile // real_tile, w * tile // real_tile] for h, w in cfg["image_grid_pinpoints"]]
    real = LlavaOnevisionConfig(**copy.deepcopy(cfg))
    text = scaled_text(real.text_config.to_dict(), n_layers, mode, d_model, d_mlp, len(tok),
                       dict(bos_token_id=None, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    conf = LlavaOnevisionConfig(**{**_strip(cfg), "text_config": text, "vision_config": vision,
                                   "image_grid_pinpoints": pinpoints, "image_token_index": _id(tok, "<image>"),
                                   "video_token_index": _id(tok, "<video>")})
    ip_kwargs = {k: v for k, v in pre.items() if k not in ("image_processor_type", "processor_class")}
    ip_kwargs.update(size={"height": tile, "width": tile}, image_grid_pinpoints=pinpoints)
    n_img = (tile // int(vision["patch_size"])) ** 2
    proc = image_only(LlavaOnevisionProcessor)(
        image_processor=LlavaOnevisionImageProcessorPil(**ip_kwargs), tokenizer=tok, chat_template=tpl,
        num_image_tokens=n_img, vision_feature_select_strategy=pc["vision_feature_select_strategy"],
        vision_aspect_ratio=pc.get("vision_aspect_ratio", cfg.get("vision_aspect_ratio", "anyres_max_9")))
    return _finish(LlavaOnevisionForConditionalGeneration(conf), tok), proc


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

    from .models.processors import image_only
    from .tiny_models import _template

    cfg, pre = files["config.json"], files["preprocessor_config.json"]
    tpl = _template("<|im_start|>{role}\n", "<|im_end|>\n", "<|vision_start|><|image_pad|><|vision_end|>",
                    "<|im_start|>assistant\n", system=system)
    tok = _tok(QWEN_SPECIALS, tpl, QWEN_EXTRA, eos="<|im_end|>")
    real = config_cls(**copy.deepcopy(cfg))
    text = scaled_text(real.text_config.to_dict(), n_layers, mode, d_model, d_mlp, len(tok),
                       dict(bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"), eos_token_id=tok.eos_token_id,
                            pad_token_id=tok.pad_token_id))
    vision = vision_fn(real.vision_config.to_dict(), mode, text["hidden_size"])
    patch, merge = int(vision["patch_size"]), int(vision["spatial_merge_size"])
    top = {k: v for k, v in _strip(real.to_dict()).items() if k not in ("text_config", "vision_config")}
    top.update({k: _id(tok, name) for k, name in QWEN_TOKEN_KEYS.items() if k in top})
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
    return _finish(model_cls(conf), tok), proc


@_register("qwen2_vl", "qwen2_vl", "Qwen/Qwen2-VL-2B-Instruct")
def _qwen2_vl(files, mode, n_layers, d_model, d_mlp):
    """Qwen2-VL: 32-block ViT (patch 14, merge 2, temporal patch 2), M-RoPE [16, 24, 24], tied embeddings,
    default system turn."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    def vision(v, mode, text_width):
        v = _strip(v)
        v["hidden_size"] = text_width  # the merger's output: the text width
        if mode == "tiny":
            v.update(embed_dim=TINY_VISION["width"], num_heads=TINY_VISION["heads"], patch_size=TINY_VISION["patch"])
        return v

    return _qwen(files, mode, n_layers, d_model, d_mlp, Qwen2VLConfig, Qwen2VLForConditionalGeneration,
                 Qwen2VLProcessor, "You are a helpful assistant.", vision)


@_register("qwen2_5_vl", "qwen2_5_vl", "Qwen/Qwen2.5-VL-3B-Instruct")
def _qwen2_5_vl(files, mode, n_layers, d_model, d_mlp):
    """Qwen2.5-VL: 32-block windowed ViT with full attention at blocks 7, 15, 23, 31, SwiGLU vision MLP, M-RoPE
    [16, 24, 24], tied embeddings, default system turn. Tiny: the attention window is one merged cell (the real
    112 px window is 4x4 merged cells of a 448 px image; the tiny image has only 2x2)."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    def vision(v, mode, text_width):
        v = _strip(v)
        v["out_hidden_size"] = text_width
        if mode == "tiny":
            v.update(hidden_size=TINY_VISION["width"], intermediate_size=TINY_VISION["mlp"],
                     num_heads=TINY_VISION["heads"], patch_size=TINY_VISION["patch"],
                     window_size=TINY_VISION["patch"] * int(v["spatial_merge_size"]))
        return v

    return _qwen(files, mode, n_layers, d_model, d_mlp, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration,
                 Qwen2_5_VLProcessor, "You are a helpful assistant.", vision)


@_register("qwen3_vl", "qwen3_vl", "Qwen/Qwen3-VL-2B-Instruct")
def _qwen3_vl(files, mode, n_layers, d_model, d_mlp):
    """Qwen3-VL (dense): 24-block ViT (patch 16) with learned position embeddings and DeepStack features of
    blocks 5, 11, 17 added after text layers 0, 1, 2; interleaved M-RoPE [24, 20, 20]; tied embeddings; no
    default system turn."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

    def vision(v, mode, text_width):
        v = _strip(v)
        v["out_hidden_size"] = text_width
        if mode == "tiny":
            v.update(hidden_size=TINY_VISION["width"], intermediate_size=TINY_VISION["mlp"],
                     num_heads=TINY_VISION["heads"], patch_size=TINY_VISION["patch"])
        return v

    return _qwen(files, mode, n_layers, d_model, d_mlp, Qwen3VLConfig, Qwen3VLForConditionalGeneration,
                 Qwen3VLProcessor, None, vision)


def _idefics_like(files, mode, n_layers, d_model, d_mlp, smol: bool):
    from .models.processors import image_only
    from .tiny_models import _template

    cfg, pre, pc = files["config.json"], files["preprocessor_config.json"], files["processor_config.json"]
    specials = ["<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>", "<global-img>"]
    specials += [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    tpl = _template("{role}:", "<end_of_utterance>\n", "<image>", "Assistant:", prefix="<|im_start|>").replace(
        "{{ m['role'] }}", "{{ m['role'] | capitalize }}")
    extra = {"image_token": "<image>", "fake_image_token": "<fake_token_around_image>",
             "global_image_token": "<global-img>", "end_of_utterance_token": "<end_of_utterance>"}
    tok = _tok(specials, tpl, extra, bos="<|im_start|>", eos="<end_of_utterance>")
    vc = cfg["vision_config"]
    real_tile = int(vc["image_size"])
    # tiny: 24 px tiles of 4 px patches (6x6), pixel-shuffled by the real scale factor 3 -> 2x2 = 4 tokens a tile
    tile = 8 * int(cfg["scale_factor"]) if mode == "tiny" else real_tile
    vision = _vision(vc, mode, image_size=tile, max_image_size={"longest_edge": tile})
    patch = int(vision["patch_size"])
    seq_len = (tile // patch) ** 2 // int(cfg["scale_factor"]) ** 2
    from transformers import CONFIG_MAPPING
    real = CONFIG_MAPPING[cfg["model_type"]](**copy.deepcopy(cfg))
    text = scaled_text(real.text_config.to_dict(), n_layers, mode, d_model, d_mlp, len(tok),
                       dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    top = {k: v for k, v in _strip(cfg).items() if k not in ("text_config", "vision_config")}
    top.update(image_token_id=_id(tok, "<image>"), pad_token_id=tok.pad_token_id)
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
        return _finish(SmolVLMForConditionalGeneration(conf), tok), proc
    from transformers import (Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessorPil,
                              Idefics3Processor)

    conf = Idefics3Config(**{**top, "text_config": text, "vision_config": vision})
    proc = Idefics3Processor(image_processor=Idefics3ImageProcessorPil(**ip_kwargs), tokenizer=tok,
                             chat_template=tpl, image_seq_len=seq_len)
    return _finish(Idefics3ForConditionalGeneration(conf), tok), proc


@_register("smolvlm", "smolvlm", "HuggingFaceTB/SmolVLM2-2.2B-Instruct")
def _smolvlm(files, mode, n_layers, d_model, d_mlp):
    """SmolVLM2: SigLIP-style tower on 384 px tiles, pixel shuffle by 3 (81 tokens a tile), image split into
    up to 4x4 tiles plus a global view, SmolLM2 (Llama, multi-head) decoder, untied embeddings."""
    return _idefics_like(files, mode, n_layers, d_model, d_mlp, smol=True)


@_register("idefics3", "idefics3", "HuggingFaceTB/SmolVLM-Instruct")
def _idefics3(files, mode, n_layers, d_model, d_mlp):
    """SmolVLM v1 (``idefics3``): the same layout under the Idefics3 classes."""
    return _idefics_like(files, mode, n_layers, d_model, d_mlp, smol=False)


@_register("gemma3", "gemma3", "google/gemma-3-4b-it")
def _gemma3(files, mode, n_layers, d_model, d_mlp):
    """Gemma 3: SigLIP tower (896 px, patch 14, no head) average-pooled 4x4 to 256 tokens; five sliding-window
    (1024) layers per global one; linear rope scaling x8 on global layers; tied embeddings; bidirectional
    attention among one image's tokens. Tiny: 32 px images of 4 px patches pooled 4x4 to 2x2 = 4 tokens (the real
    pooling kernel), sliding window 1024 * 4/256 = 16 (the real window over image-token ratio)."""
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessorPil, Gemma3Processor

    from .tiny_models import _template

    cfg, pre = files["config.json"], files["preprocessor_config.json"]
    specials = ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>",
                "<image_soft_token>"]
    tpl = _template("<start_of_turn>{role}\n", "<end_of_turn>\n", "<start_of_image>", "<start_of_turn>model\n",
                    prefix="<bos>").replace("{{ m['role'] }}",
                                            "{{ 'model' if m['role'] == 'assistant' else m['role'] }}")
    extra = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    tok = _tok(specials, tpl, extra, bos="<bos>", eos="<eos>")
    real = Gemma3Config(**copy.deepcopy(cfg))
    vc = cfg["vision_config"]
    real_tokens = int(cfg["mm_tokens_per_image"])
    kernel = (int(vc["image_size"]) // int(vc["patch_size"])) // int(real_tokens ** 0.5)
    if mode == "tiny":
        tokens = 4
        tile = int(tokens ** 0.5) * kernel * TINY_VISION["patch"]
    else:
        tokens, tile = real_tokens, int(vc["image_size"])
    vision = _vision(vc, mode, image_size=tile)
    text = scaled_text(real.text_config.to_dict(), n_layers, mode, d_model, d_mlp, len(tok),
                       dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    if mode == "tiny" and text.get("sliding_window"):
        text["sliding_window"] = max(1, int(text["sliding_window"]) * tokens // real_tokens)
    top = {k: v for k, v in _strip(cfg).items() if k not in ("text_config", "vision_config")}
    top.update(boi_token_index=_id(tok, "<start_of_image>"), eoi_token_index=_id(tok, "<end_of_image>"),
               image_token_index=_id(tok, "<image_soft_token>"), mm_tokens_per_image=tokens,
               eos_token_id=[tok.eos_token_id, _id(tok, "<end_of_turn>")])
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
    return _finish(model, tok), proc


def build_family(family: str, mode: str = "tiny", n_layers: int = 2, seed: int = 0, d_model: int = 32,
                 d_mlp: int = 64):
    """``(model, processor)`` of ``family`` built from its checkpoint configs (module docstring), eval mode,
    float32, seeded."""
    import torch

    if family not in BUILDS:
        raise ValueError(f"no config-faithful build for {family!r}; choose one of {sorted(BUILDS)}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    torch.manual_seed(seed)
    model, proc = BUILDS[family].builder(checkpoint_files(family), mode, n_layers, d_model, d_mlp)
    return model.eval(), proc


def full_depth(config) -> int | None:
    """Decoder depth of the checkpoint a config was cut from (``sn_full_depth``), or None."""
    tc = getattr(config, "text_config", None) or config
    v = getattr(tc, "sn_full_depth", None)
    return int(v) if v else None


def full_depth_loaded(family: str):
    """A :class:`~sn_core.models.loading.LoadedModel` of ``family``'s example checkpoint at its real widths and
    full depth, built on the ``meta`` device (parameter shapes only, no memory, no weights): enough to count its
    FLOPs (:mod:`sn_core.flops`) and to encode examples with its real-resolution processor. Qwen-VL processors get
    the adapter's pixel budget, as on load."""
    import torch

    from .models.loading import wrap_model

    full = int(_text_dict(real_config(family))["num_hidden_layers"])
    with torch.device("meta"):
        model, proc = BUILDS[family].builder(checkpoint_files(family), "real", full, 0, 0)
    loaded = wrap_model(model, proc, model_id=f"{BUILDS[family].checkpoint} (meta)", weights_hash="meta")
    if hasattr(loaded.adapter, "image_tokens") and hasattr(proc.image_processor, "merge_size"):
        from .models.qwen2_vl import pin_pixel_budget

        pin_pixel_budget(proc.image_processor, loaded.adapter.image_tokens)
    return loaded


def full_depth_flop_limit(family: str, image, question: str, exit_layer: int = 0, new_tokens: int = 1,
                          loaded=None) -> dict:
    """:func:`sn_core.flops.flop_ratio` of the full-depth example checkpoint (:func:`full_depth_loaded`) on one
    example, encoded on the CPU by its real-resolution processor (prompt length from the offline tokenizer)."""
    from .flops import flop_ratio

    loaded = loaded or full_depth_loaded(family)
    inputs = loaded.adapter.encode(loaded.processor, [image], [loaded.prompt(question)])
    return flop_ratio(loaded, int(inputs["input_ids"].shape[1]), exit_layer, new_tokens, inputs=inputs)

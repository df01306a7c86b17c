"""Tiny random-weight VLMs of every supported family, with offline tokenizers and processors.

No real checkpoint can be downloaded in CI, so each family's code path (prompt, image tokens, decoder path, site
hooks, early exit, search) is tested on a model built from the family's own transformers config class, as
transformers tests itself: a 2-layer, 32-wide text model, a 1-layer vision tower, 16-pixel image tiles. The
processor is the family's own processor class (its Pillow image processor, a word-level tokenizer holding the
family's special tokens, and a chat template with the family's turn and image-placeholder layout), so the
processor expands image placeholders and returns family extras (``image_grid_thw``, ``mm_token_type_ids``,
``pixel_attention_mask``, ``token_type_ids``, ``image_sizes``) exactly as for a real checkpoint.

Usage::

    model, processor = tiny_vlm("qwen2_5_vl")                 # in memory
    folder = save_tiny_vlm("gemma3", "/tmp/tiny-gemma3")       # HF folder: load_model(str(folder)) loads it
    python -m sn_core.models.tiny qwen2_vl /tmp/tiny-qwen2-vl --layers 48

The weights are random: the models answer nonsense, and search results on them test plumbing, not accuracy.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

TEXT = dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2)  # head_dim 8
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
TILE = 16  # image side (px) the vision towers see: 16 px / patch 4 = 4x4 patches


@dataclass(frozen=True)
class TinyFamily:
    """One family: its HF ``model_type``, a real checkpoint it stands for, and the builder of (model, processor)."""

    name: str
    model_type: str
    example_checkpoint: str
    build: Callable[[dict], tuple]  # text-config sizes (see _text) -> (model, processor); seeded by the caller


FAMILIES: dict[str, TinyFamily] = {}


def _family(name: str, model_type: str, example: str):
    def deco(fn):
        FAMILIES[name] = TinyFamily(name, model_type, example, fn)
        return fn
    return deco


# ---------------------------------------------------------------------------------------------------- tokenizer
def _words() -> list[str]:
    from sn_core.models.tokenizers import vocabulary

    return vocabulary() + ["user", "assistant", "system", "model", ":", "you", "are", "helpful", "."]


def tiny_tokenizer(specials: list[str], chat_template: str, extra: dict[str, str] | None = None,
                   bos: str | None = None, eos: str | None = None, pad: str = "<pad>"):
    """A word-level fast tokenizer: ``<pad>``, ``<unk>``, the family's special tokens, then the bundled-task words.

    ``extra`` names special tokens as attributes (``image_token``, ``boi_token``...), as hub tokenizers do.
    """
    from sn_core.models.tokenizers import word_level_tokenizer

    specials = list(dict.fromkeys(["<pad>", "<unk>"] + specials))
    return word_level_tokenizer(specials, _words(), chat_template, extra, bos=bos, eos=eos, pad=pad)


def _template(turn_open: str, turn_close: str, image: str, assistant: str, prefix: str = "",
              system: str | None = None) -> str:
    """A Jinja chat template with the family's layout: ``prefix``, optional default system turn, user turns where
    each image part becomes ``image``, then the generation prompt ``assistant``. ``{role}`` in ``turn_open`` is
    replaced by the message role."""
    open_ = turn_open.replace("{role}", "{{ m['role'] }}")
    sys_ = ""
    if system is not None:
        sys_ = ("{%- if messages[0]['role'] != 'system' -%}" + turn_open.replace("{role}", "system") + system
                + turn_close + "{%- endif -%}")
    tpl = (
        prefix + sys_ + "{%- for m in messages -%}" + open_
        + "{%- if m['content'] is string -%}{{ m['content'] }}{%- else -%}{%- for p in m['content'] -%}"
        + "{%- if p['type'] == 'image' -%}" + image + "{%- elif p['type'] == 'text' -%}{{ p['text'] }}{%- endif -%}"
        + "{%- endfor -%}{%- endif -%}" + turn_close + "{%- endfor -%}"
        + "{%- if add_generation_prompt -%}" + assistant + "{%- endif -%}"
    )
    # The pieces are concatenated without whitespace, so non-trimming tags keep the families' newlines
    # (e.g. after "<|im_start|>user") exactly where the real templates put them.
    return tpl.replace("{%-", "{%").replace("-%}", "%}")


def _ids(tok, *names):
    return [tok.convert_tokens_to_ids(n) for n in names]


def _text(n_layers: int, d_model: int = 32, d_mlp: int = 64) -> dict:
    """Text-model sizes: 4 heads of ``d_model // 4`` (2 key/value heads)."""
    if d_model % 8:
        raise ValueError(f"d_model must be a multiple of 8 (4 heads with an even head_dim), got {d_model}")
    return dict(TEXT, hidden_size=d_model, intermediate_size=d_mlp, num_hidden_layers=n_layers)


def _head_dim(text: dict) -> int:
    return text["hidden_size"] // text["num_attention_heads"]


def _mrope_section(text: dict) -> list[int]:
    """M-RoPE (time, height, width) rotary sections summing to head_dim / 2, as Qwen-VL configs require."""
    half = _head_dim(text) // 2
    t = half // 2
    h = (half - t) // 2
    return [t, h, half - t - h]


def _text_ids(tok) -> dict:
    return dict(vocab_size=len(tok), pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id)


# ------------------------------------------------------------------------------------------------------ families
@_family("llava", "llava", "llava-hf/llava-1.5-7b-hf")
def _llava(text: dict):
    from transformers import (LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor,
                              SiglipImageProcessorPil, SiglipVisionConfig)

    tpl = _template("USER: ", " ", "<image>\n", "ASSISTANT:")
    tok = tiny_tokenizer(["<s>", "</s>", "<image>"], tpl, {"image_token": "<image>"}, bos="<s>", eos="</s>")
    ip = SiglipImageProcessorPil(size={"height": TILE, "width": TILE}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=4, vision_feature_select_strategy="full",
                          chat_template=tpl, image_token="<image>", num_additional_image_tokens=0)
    cfg = LlavaConfig(vision_config=SiglipVisionConfig(**VISION, image_size=TILE, patch_size=4),
                      text_config=LlamaConfig(**text, **_text_ids(tok)),
                      image_token_index=_ids(tok, "<image>")[0], image_seq_length=16,
                      vision_feature_select_strategy="full", vision_feature_layer=-1)
    return LlavaForConditionalGeneration(cfg), proc


QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                 "<|image_pad|>", "<|video_pad|>"]
QWEN_EXTRA = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
              "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"}


def _qwen_processor(processor_cls, tpl: str, patch: int):
    """Qwen-VL processor with fixed pixel limits: every image becomes ``TILE x TILE`` px -> 4 merged tokens."""
    from transformers import Qwen2VLImageProcessorPil

    from sn_core.models.processors import image_only

    tok = tiny_tokenizer(QWEN_SPECIALS, tpl, QWEN_EXTRA, eos="<|im_end|>")
    px = (TILE * patch // 4) ** 2  # min_pixels = max_pixels: a fixed grid of 4x4 patches
    ip = Qwen2VLImageProcessorPil(patch_size=patch, temporal_patch_size=2, merge_size=2, min_pixels=px,
                                  max_pixels=px)
    return image_only(processor_cls)(image_processor=ip, tokenizer=tok, chat_template=tpl), tok


def _qwen_template(system: str | None) -> str:
    return _template("<|im_start|>{role}\n", "<|im_end|>\n", "<|vision_start|><|image_pad|><|vision_end|>",
                     "<|im_start|>assistant\n", system=system)


@_family("qwen2_vl", "qwen2_vl", "Qwen/Qwen2-VL-2B-Instruct")
def _qwen2_vl(text: dict):
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    proc, tok = _qwen_processor(Qwen2VLProcessor, _qwen_template("You are a helpful assistant."), patch=4)
    s, e, img, vid = _ids(tok, "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
    cfg = Qwen2VLConfig(
        text_config=dict(**text, **_text_ids(tok),
                         rope_scaling={"type": "mrope", "mrope_section": _mrope_section(text)}),
        vision_config=dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=4,
                           spatial_merge_size=2, temporal_patch_size=2),
        image_token_id=img, video_token_id=vid, vision_start_token_id=s, vision_end_token_id=e)
    return Qwen2VLForConditionalGeneration(cfg), proc


@_family("qwen2_5_vl", "qwen2_5_vl", "Qwen/Qwen2.5-VL-3B-Instruct")
def _qwen2_5_vl(text: dict):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    proc, tok = _qwen_processor(Qwen2_5_VLProcessor, _qwen_template("You are a helpful assistant."), patch=4)
    s, e, img, vid = _ids(tok, "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
    cfg = Qwen2_5_VLConfig(
        text_config=dict(**text, **_text_ids(tok),
                         rope_scaling={"type": "mrope", "mrope_section": _mrope_section(text)}),
        vision_config=dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32,
                           patch_size=4, spatial_merge_size=2, temporal_patch_size=2, window_size=8,
                           fullatt_block_indexes=[0]),
        image_token_id=img, video_token_id=vid, vision_start_token_id=s, vision_end_token_id=e)
    return Qwen2_5_VLForConditionalGeneration(cfg), proc


@_family("qwen3_vl", "qwen3_vl", "Qwen/Qwen3-VL-2B-Instruct")
def _qwen3_vl(text: dict):
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

    proc, tok = _qwen_processor(Qwen3VLProcessor, _qwen_template(None), patch=4)
    s, e, img, vid = _ids(tok, "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
    cfg = Qwen3VLConfig(
        text_config=dict(**text, head_dim=_head_dim(text), **_text_ids(tok),
                         rope_scaling={"rope_type": "default", "mrope_section": _mrope_section(text),
                                       "mrope_interleaved": True}),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32,
                           patch_size=4, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=16,
                           deepstack_visual_indexes=[0]),  # deepstack features are added after text layer 0
        image_token_id=img, video_token_id=vid, vision_start_token_id=s, vision_end_token_id=e)
    return Qwen3VLForConditionalGeneration(cfg), proc


@_family("llava_onevision", "llava_onevision", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf")
def _llava_onevision(text: dict):
    from transformers import (LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration,
                              LlavaOnevisionImageProcessorPil, LlavaOnevisionProcessor, Qwen2Config,
                              SiglipVisionConfig)

    from sn_core.models.processors import image_only

    tpl = _template("<|im_start|>{role}\n", "<|im_end|>\n", "<image>\n", "<|im_start|>assistant\n")
    tok = tiny_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"], tpl,
                         {"image_token": "<image>", "video_token": "<video>"}, eos="<|im_end|>")
    pinpoints = [[TILE, TILE], [TILE, 2 * TILE], [2 * TILE, TILE], [2 * TILE, 2 * TILE]]  # anyres: up to 2x2 tiles
    ip = LlavaOnevisionImageProcessorPil(size={"height": TILE, "width": TILE}, image_grid_pinpoints=pinpoints,
                                         image_mean=[0.5] * 3, image_std=[0.5] * 3)
    proc = image_only(LlavaOnevisionProcessor)(image_processor=ip, tokenizer=tok, chat_template=tpl,
                                               num_image_tokens=16, vision_feature_select_strategy="full",
                                               vision_aspect_ratio="anyres_max_9")
    img, vid = _ids(tok, "<image>", "<video>")
    cfg = LlavaOnevisionConfig(vision_config=SiglipVisionConfig(**VISION, image_size=TILE, patch_size=4),
                               text_config=Qwen2Config(**text, **_text_ids(tok)),
                               image_token_index=img, video_token_index=vid, image_grid_pinpoints=pinpoints,
                               vision_feature_select_strategy="full", vision_feature_layer=-1)
    return LlavaOnevisionForConditionalGeneration(cfg), proc


def _idefics_like(text_sizes: dict, smol: bool):
    """SmolVLM (``smolvlm``) and Idefics3 (``idefics3``, also SmolVLM v1 checkpoints): images are split into
    ``TILE`` px tiles plus a global view; each tile gives (4x4 patches / scale 2^2) = 4 image tokens."""
    from transformers import LlamaConfig

    from sn_core.models.processors import image_only

    specials = ["<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>", "<global-img>"]
    specials += [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    tpl = _template("{role}:", "<end_of_utterance>\n", "<image>", "Assistant:", prefix="<|im_start|>").replace(
        "{{ m['role'] }}", "{{ m['role'] | capitalize }}")  # "<|im_start|>User:<image>...<end_of_utterance>\nAssistant:"
    extra = {"image_token": "<image>", "fake_image_token": "<fake_token_around_image>",
             "global_image_token": "<global-img>", "end_of_utterance_token": "<end_of_utterance>"}
    tok = tiny_tokenizer(specials, tpl, extra, bos="<|im_start|>", eos="<end_of_utterance>")
    common = dict(do_image_splitting=True, size={"longest_edge": 2 * TILE}, max_image_size={"longest_edge": TILE},
                  image_mean=[0.5] * 3, image_std=[0.5] * 3)
    text = LlamaConfig(**text_sizes, **_text_ids(tok))
    vision = dict(**VISION, image_size=TILE, patch_size=4)
    img = tok.convert_tokens_to_ids("<image>")
    if smol:
        from transformers import (SmolVLMConfig, SmolVLMForConditionalGeneration, SmolVLMImageProcessorPil,
                                  SmolVLMProcessor)

        proc = image_only(SmolVLMProcessor)(image_processor=SmolVLMImageProcessorPil(**common), tokenizer=tok,
                                            chat_template=tpl, image_seq_len=4)
        cfg = SmolVLMConfig(vision_config=vision, text_config=text, image_token_id=img, scale_factor=2)
        return SmolVLMForConditionalGeneration(cfg), proc
    from transformers import (Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessorPil,
                              Idefics3Processor)

    proc = Idefics3Processor(image_processor=Idefics3ImageProcessorPil(**common), tokenizer=tok, chat_template=tpl,
                             image_seq_len=4)
    cfg = Idefics3Config(vision_config=vision, text_config=text, image_token_id=img, scale_factor=2)
    return Idefics3ForConditionalGeneration(cfg), proc


@_family("smolvlm", "smolvlm", "HuggingFaceTB/SmolVLM2-2.2B-Instruct")
def _smolvlm(text: dict):
    return _idefics_like(text, smol=True)


@_family("idefics3", "idefics3", "HuggingFaceTB/SmolVLM-Instruct")
def _idefics3(text: dict):
    return _idefics_like(text, smol=False)


@_family("gemma3", "gemma3", "google/gemma-3-4b-it")
def _gemma3(text: dict):
    from transformers import (Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessorPil,
                              Gemma3Processor, Gemma3TextConfig, SiglipVisionConfig)

    specials = ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>",
                "<image_soft_token>"]
    tpl = _template("<start_of_turn>{role}\n", "<end_of_turn>\n", "<start_of_image>", "<start_of_turn>model\n",
                    prefix="<bos>").replace("{{ m['role'] }}", "{{ 'model' if m['role'] == 'assistant' else m['role'] }}")
    extra = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    tok = tiny_tokenizer(specials, tpl, extra, bos="<bos>", eos="<eos>")
    ip = Gemma3ImageProcessorPil(size={"height": TILE, "width": TILE}, image_mean=[0.5] * 3, image_std=[0.5] * 3,
                                 do_pan_and_scan=False)
    proc = Gemma3Processor(image_processor=ip, tokenizer=tok, chat_template=tpl, image_seq_length=4)
    boi, eoi, img = _ids(tok, "<start_of_image>", "<end_of_image>", "<image_soft_token>")
    # Gemma 3's pattern: five sliding-window (local) layers, then one global layer
    layer_types = ["sliding_attention" if (i + 1) % 6 else "full_attention" for i in range(text["num_hidden_layers"])]
    hd = _head_dim(text)
    # A window of 16: shorter than the test prompts (~23 tokens), so the sliding mask matters, yet long enough for
    # the image tokens to reach the read position within two layers.
    text = Gemma3TextConfig(**text, head_dim=hd, query_pre_attn_scalar=hd, sliding_window=16,
                            layer_types=layer_types, **_text_ids(tok))
    cfg = Gemma3Config(text_config=text, vision_config=SiglipVisionConfig(**VISION, image_size=TILE, patch_size=4),
                       mm_tokens_per_image=4, boi_token_index=boi, eoi_token_index=eoi, image_token_index=img)
    model = Gemma3ForConditionalGeneration(cfg)
    # transformers initialises the projector's input matrix to zeros (a trained checkpoint overwrites it): random
    # weights would then never let an image reach the language model, and no test could see image handling break.
    torch.nn.init.normal_(model.model.multi_modal_projector.mm_input_projection_weight, std=0.2)
    return model, proc


# ----------------------------------------------------------------------------------------------------- public API
def tiny_vlm(family: str, n_layers: int = 2, seed: int = 0, d_model: int = 32, d_mlp: int = 64):
    """``(model, processor)`` of a tiny random ``family`` VLM (eval mode, float32). Same seed -> same weights.

    ``d_model`` / ``d_mlp`` widen the text model (benchmarks); tests keep the 32 / 64 defaults.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown tiny family {family!r}; choose one of {sorted(FAMILIES)}")
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    torch.manual_seed(seed)
    model, proc = FAMILIES[family].build(_text(n_layers, d_model, d_mlp))
    tok = proc.tokenizer
    gc = model.generation_config
    gc.pad_token_id, gc.eos_token_id, gc.bos_token_id = tok.pad_token_id, tok.eos_token_id, tok.bos_token_id
    gc.do_sample = False
    return model.eval(), proc


def save_tiny_vlm(family: str, out: str | Path, n_layers: int = 2, seed: int = 0, d_model: int = 32,
                  d_mlp: int = 64) -> Path:
    """Write a tiny ``family`` VLM as a Hugging Face folder (safetensors + JSON) and return its path."""
    out = Path(out)
    model, proc = tiny_vlm(family, n_layers=n_layers, seed=seed, d_model=d_model, d_mlp=d_mlp)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Write a tiny random-weight VLM of one family (for tests/benchmarks).")
    ap.add_argument("family", choices=sorted(FAMILIES))
    ap.add_argument("out", type=Path)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--d-model", type=int, default=32)
    ap.add_argument("--d-mlp", type=int, default=64)
    a = ap.parse_args(argv)
    print(save_tiny_vlm(a.family, a.out, n_layers=a.layers, seed=a.seed, d_model=a.d_model, d_mlp=a.d_mlp))


if __name__ == "__main__":
    main()

"""Tiny random-weight VLMs of every supported family, with offline tokenizers and processors.

No real checkpoint can be downloaded in CI, so each family's code path (prompt, image tokens, decoder path, site
hooks, early exit, search) is tested on a small random model. Every family except ``llava`` is built FROM its
example checkpoint's real ``config.json`` and processor configs (``sn_core/models/checkpoint_configs/<family>/``,
see :mod:`sn_core.models.config_faithful`): only text widths (2 decoder layers, d_model 32, d_mlp 64, 4 heads), the
vision width (32), the vocabulary and the image size are scaled down; vision tower kind and depth (unless
``vision_layers`` cuts the tower, remapping the block indexes below), ``vision_feature_layer`` and select
strategy, projector, rope scaling, M-RoPE sections (rescaled in proportion), DeepStack and full-attention block
indexes, tied embeddings, layer types / sliding windows and the special tokens stay the checkpoint's.
``llava_1_5`` is the layout of ``llava-hf/llava-1.5-7b-hf`` (CLIP tower, feature layer -2, strategy ``default``);
``llava`` is the bundled demo model's layout (SigLIP tower, last layer, strategy ``full``).
The processor is the family's own processor class (its Pillow image processor with the checkpoint's
normalisation, a word-level tokenizer holding the family's special tokens, and a chat template with the family's
turn and image-placeholder layout), so the processor expands image placeholders and returns family extras
(``image_grid_thw``, ``mm_token_type_ids``, ``pixel_attention_mask``, ``token_type_ids``, ``image_sizes``) exactly
as for a real checkpoint.

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

from sn_core.models.faithful_builds import QWEN_EXTRA, QWEN_SPECIALS  # noqa: F401  (public: Qwen-VL special tokens)
from sn_core.models.tokenizers import family_chat_template as _template
from sn_core.models.tokenizers import tiny_tokenizer

TEXT = dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2)  # head_dim 8
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
TILE = 16  # image side (px) the vision towers see: 16 px / patch 4 = 4x4 patches


@dataclass(frozen=True)
class TinyFamily:
    """One family: its HF ``model_type``, a real checkpoint it stands for, and the builder of (model, processor)."""

    name: str
    model_type: str
    example_checkpoint: str
    build: Callable[..., tuple]  # (text sizes (see _text), vision_layers) -> (model, processor); seeded by caller


FAMILIES: dict[str, TinyFamily] = {}


def _family(name: str, model_type: str, example: str):
    def deco(fn):
        FAMILIES[name] = TinyFamily(name, model_type, example, fn)
        return fn
    return deco


def _ids(tok, *names):
    return [tok.convert_tokens_to_ids(n) for n in names]


def _text(n_layers: int, d_model: int = 32, d_mlp: int = 64) -> dict:
    """Text-model sizes: 4 heads of ``d_model // 4`` (2 key/value heads)."""
    if d_model % 8:
        raise ValueError(f"d_model must be a multiple of 8 (4 heads with an even head_dim), got {d_model}")
    return dict(TEXT, hidden_size=d_model, intermediate_size=d_mlp, num_hidden_layers=n_layers)


def _text_ids(tok) -> dict:
    return dict(vocab_size=len(tok), pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id)


# ------------------------------------------------------------------------------------------------------ families
@_family("llava", "llava", "assets/demo-vlm (LLaVA classes, SigLIP tower, strategy full)")
def _llava(text: dict, vision_layers: int | None = None):
    """The bundled demo model's layout; ``llava_1_5`` is the layout of ``llava-hf/llava-1.5-7b-hf``."""
    from transformers import (LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor,
                              SiglipImageProcessorPil, SiglipVisionConfig)

    tpl = _template("USER: ", " ", "<image>\n", "ASSISTANT:")
    tok = tiny_tokenizer(["<s>", "</s>", "<image>"], tpl, {"image_token": "<image>"}, bos="<s>", eos="</s>")
    ip = SiglipImageProcessorPil(size={"height": TILE, "width": TILE}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=4, vision_feature_select_strategy="full",
                          chat_template=tpl, image_token="<image>", num_additional_image_tokens=0)
    vision = dict(VISION, num_hidden_layers=vision_layers or VISION["num_hidden_layers"])
    cfg = LlavaConfig(vision_config=SiglipVisionConfig(**vision, image_size=TILE, patch_size=4),
                      text_config=LlamaConfig(**text, **_text_ids(tok)),
                      image_token_index=_ids(tok, "<image>")[0], image_seq_length=16,
                      vision_feature_select_strategy="full", vision_feature_layer=-1)
    return LlavaForConditionalGeneration(cfg), proc


def _faithful(name: str):
    def build(text: dict, vision_layers: int | None = None):
        from sn_core.models.config_faithful import BUILDS, checkpoint_files
        from sn_core.models.faithful_configs import shallow_vision_files

        files = checkpoint_files(name)
        if vision_layers is not None:
            files = shallow_vision_files(files, vision_layers)
        return BUILDS[name].builder(files, "tiny", text["num_hidden_layers"], text["hidden_size"],
                                    text["intermediate_size"])
    return build


def _register_faithful() -> None:
    from sn_core.models.config_faithful import BUILDS

    for name, b in BUILDS.items():
        FAMILIES[name] = TinyFamily(name, b.model_type, b.checkpoint, _faithful(name))


_register_faithful()


# ----------------------------------------------------------------------------------------------------- public API
def tiny_vlm(family: str, n_layers: int = 2, seed: int = 0, d_model: int = 32, d_mlp: int = 64,
             vision_layers: int | None = None):
    """``(model, processor)`` of a tiny random ``family`` VLM (eval mode, float32). Same seed -> same weights.

    ``d_model`` / ``d_mlp`` widen the text model (benchmarks); tests keep the 32 / 64 defaults. ``vision_layers``
    cuts the vision tower to that many blocks (``faithful_configs.shallow_vision_files``: block-kind indexes
    remapped in proportion); by default the tower has the checkpoint's depth.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown tiny family {family!r}; choose one of {sorted(FAMILIES)}")
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    torch.manual_seed(seed)
    model, proc = FAMILIES[family].build(_text(n_layers, d_model, d_mlp), vision_layers)
    tok = proc.tokenizer
    gc = model.generation_config
    gc.pad_token_id, gc.eos_token_id, gc.bos_token_id = tok.pad_token_id, tok.eos_token_id, tok.bos_token_id
    gc.do_sample = False
    return model.eval(), proc


def save_tiny_vlm(family: str, out: str | Path, n_layers: int = 2, seed: int = 0, d_model: int = 32,
                  d_mlp: int = 64, vision_layers: int | None = None) -> Path:
    """Write a tiny ``family`` VLM as a Hugging Face folder (safetensors + JSON) and return its path."""
    out = Path(out)
    model, proc = tiny_vlm(family, n_layers=n_layers, seed=seed, d_model=d_model, d_mlp=d_mlp,
                           vision_layers=vision_layers)
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
    ap.add_argument("--vision-layers", type=int, default=None, help="vision blocks (default: the checkpoint's)")
    a = ap.parse_args(argv)
    print(save_tiny_vlm(a.family, a.out, n_layers=a.layers, seed=a.seed, d_model=a.d_model, d_mlp=a.d_mlp,
                        vision_layers=a.vision_layers))


if __name__ == "__main__":
    main()

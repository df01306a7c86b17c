"""Build, train and evaluate the embedded demo VLM under ``assets/demo-vlm/``.

The demo model is a genuine Hugging Face LLaVA model (``LlavaForConditionalGeneration``: a SigLIP vision tower,
a 2-layer MLP projector and a Llama decoder), with an offline word-level tokenizer, a Pillow image processor and
a chat template, so ``sn_core`` loads it through exactly the code path of a hub model.

Usage::

    python -m sn_core.demo train --out assets/demo-vlm --minutes 45 --seed 0
    python -m sn_core.demo evaluate [--model assets/demo-vlm] [--n 200]

Training is reproducible from ``--seed`` given the same step count (``--steps``); ``--minutes`` stops on a time
budget instead and records the steps it reached in ``training.json``. Checkpoints are written every
``--save-every`` steps, and ``--resume`` continues from the last one (with a fresh optimiser; the learning-rate
schedule resumes at the saved step).

This module holds the architecture (config, tokenizer, processor, model), the evaluation and the command line; the
training loop is ``sn_core.demo.training`` and the model card ``sn_core.demo.card``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from sn_core import DEMO_MODEL_DIR
from sn_core.data import bundled_spec, bundled_task_names, get_task  # noqa: F401  (sn_core.demo re-exports)
from sn_core.data.bundled.shapes import COLORS, COUNTS, IMAGE_SIZE, SHAPES  # noqa: F401
from sn_core.data.answers import match_label
from sn_core.models.prompts import chat_prompt, encode
from sn_core.models.tokenizers import vocabulary, word_level_tokenizer

SPECIAL_TOKENS = ["<pad>", "<unk>", "<s>", "</s>", "<image>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|{{ message['role'] }}|>"
    "{%- if message['content'] is string %} {{ message['content'] }}"
    "{%- else %}{%- for part in message['content'] %}"
    "{%- if part['type'] == 'image' %} <image>{%- elif part['type'] == 'text' %} {{ part['text'] }}{%- endif %}"
    "{%- endfor %}{%- endif %} <|end|> "
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}<|assistant|>{%- endif -%}"
)


@dataclass
class DemoConfig:
    """Architecture of the demo VLM. The decoder carries most of the prefill FLOPs, as in LLaVA or Qwen-VL."""

    image_size: int = IMAGE_SIZE  # 48x48 RGB
    patch_size: int = 8  # -> 6x6 = 36 image tokens
    vision_hidden: int = 96
    vision_layers: int = 2
    vision_heads: int = 4
    vision_mlp: int = 256
    vision_use_head: bool = False  # SigLIP's pooling head: LLaVA reads the patch tokens, never its output
    text_hidden: int = 160
    # 16 layers: "which layer hosts the neuron" is a real question, and an exit in the first quarter (layers 0-3)
    # skips at least 3/4 of the decoder, as in a real VLM. 16 x 160 keeps the weights under 25 MB of float32.
    text_layers: int = 16
    text_heads: int = 5  # head_dim 32
    text_kv_heads: int = 5
    text_mlp: int = 448  # d_mlp: neurons per layer at blocks.{L}.mlp.hook_post
    max_positions: int = 128


def build_tokenizer():
    return word_level_tokenizer(SPECIAL_TOKENS, vocabulary(), CHAT_TEMPLATE, {"image_token": "<image>"},
                                bos="<s>", eos="</s>")


def build_processor(cfg: DemoConfig):
    from transformers import LlavaProcessor, SiglipImageProcessorPil

    ip = SiglipImageProcessorPil(size={"height": cfg.image_size, "width": cfg.image_size},
                                 image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    return LlavaProcessor(image_processor=ip, tokenizer=build_tokenizer(), patch_size=cfg.patch_size,
                          vision_feature_select_strategy="full", chat_template=CHAT_TEMPLATE,
                          image_token="<image>", num_additional_image_tokens=0)


def build_model(cfg: DemoConfig, processor, seed: int = 0):
    from transformers import LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, SiglipVisionConfig

    tok = processor.tokenizer
    vision = SiglipVisionConfig(hidden_size=cfg.vision_hidden, intermediate_size=cfg.vision_mlp,
                                num_hidden_layers=cfg.vision_layers, num_attention_heads=cfg.vision_heads,
                                image_size=cfg.image_size, patch_size=cfg.patch_size,
                                vision_use_head=cfg.vision_use_head)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=cfg.text_hidden, intermediate_size=cfg.text_mlp,
                       num_hidden_layers=cfg.text_layers, num_attention_heads=cfg.text_heads,
                       num_key_value_heads=cfg.text_kv_heads, max_position_embeddings=cfg.max_positions,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                       tie_word_embeddings=False)
    n_img = (cfg.image_size // cfg.patch_size) ** 2
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tok.convert_tokens_to_ids("<image>"),
                         image_seq_length=n_img, vision_feature_select_strategy="full", vision_feature_layer=-1,
                         projector_hidden_act="gelu")
    config.pad_token_id = tok.pad_token_id
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    gc = model.generation_config
    gc.bos_token_id, gc.eos_token_id, gc.pad_token_id = tok.bos_token_id, tok.eos_token_id, tok.pad_token_id
    gc.do_sample = False
    return model


# ----------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(model_dir: Path = DEMO_MODEL_DIR, n: int = 200, seed: int = 0, batch_size: int = 50,
             tasks: list[str] | None = None, log=print) -> dict[str, dict]:
    """Greedy answers of the model on each bundled task's ``eval`` part; accuracy (exact label match after
    normalisation; an answer outside the label set counts as wrong) and chance level per task."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    results = {}
    for name in tasks or bundled_task_names("trained"):
        task = get_task(name, n, seed=seed, part="eval")
        correct = 0
        for i in range(0, len(task), batch_size):
            exs = task.examples[i: i + batch_size]
            batch = encode(processor, [e.image for e in exs], [chat_prompt(processor, task.prompt_text(e.question))
                                                               for e in exs])
            gen = model.generate(**batch, max_new_tokens=2, do_sample=False)
            answers = processor.tokenizer.batch_decode(gen[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
            correct += sum(match_label(a, task.labels) == e.label for a, e in zip(answers, exs))
        acc = correct / len(task)
        results[name] = {"accuracy": acc, "chance": 1 / len(task.labels), "n": len(task)}
        log(f"{name:15s} accuracy {acc:.3f}  (chance {1 / len(task.labels):.3f}, n={len(task)})")
    return results

"""Build, train and evaluate the embedded demo VLM under ``assets/demo-vlm/``.

The demo model is a genuine Hugging Face LLaVA model (``LlavaForConditionalGeneration``: a SigLIP vision tower,
a 2-layer MLP projector and a Llama decoder), with an offline word-level tokenizer, a Pillow image processor and
a chat template, so ``sn_core`` loads it through exactly the code path of a hub model.

Usage::

    python -m sn_core.demo_model train --out assets/demo-vlm --minutes 45 --seed 0
    python -m sn_core.demo_model evaluate [--model assets/demo-vlm] [--n 200]

Training is reproducible from ``--seed`` given the same step count (``--steps``); ``--minutes`` stops on a time
budget instead and records the steps it reached in ``training.json``. Checkpoints are written every
``--save-every`` steps, and ``--resume`` continues from the last one (with a fresh optimiser; the learning-rate
schedule resumes at the saved step).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from . import DEMO_MODEL_DIR
from .data import bundled_spec, bundled_task_names, get_task
from .data.shapes import COLORS, COUNTS, IMAGE_SIZE, SHAPES
from .prompts import chat_prompt, encode, match_label

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


def vocabulary() -> list[str]:
    """Every word of every bundled question, instruction and label (lower-cased), sorted: deterministic."""
    words: set[str] = set()
    from tokenizers.pre_tokenizers import Whitespace

    pre = Whitespace()
    texts = ["answer with one word .", "what is this ? yes no"]
    for name in bundled_task_names("trained"):
        spec = bundled_spec(name)
        texts += [spec.question, " ".join(spec.labels)]
    texts += [" ".join(COLORS), " ".join(SHAPES), " ".join(COUNTS), "is there a"]
    for t in texts:
        words.update(w for w, _ in pre.pre_tokenize_str(t.lower()) if w not in ("<", ">"))
    return sorted(words)


def word_level_tokenizer(specials: list[str], words: list[str], chat_template: str,
                         extra: dict[str, str] | None = None, bos: str | None = None, eos: str | None = None,
                         pad: str = "<pad>", unk: str = "<unk>"):
    """An offline word-level fast tokenizer: ``specials`` first (ids 0..), then ``words``; lower-cased,
    punctuation split, special tokens matched whole, left padding, ``chat_template`` set. ``extra`` names special
    tokens as attributes (``image_token``...), as hub tokenizers do. Used by the demo model and the tiny models."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(specials)}
    for w in words:
        vocab.setdefault(w, len(vocab))
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.add_special_tokens(list(specials))  # matched whole before pre-tokenisation (already in the vocabulary)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token=bos, eos_token=eos, unk_token=unk, pad_token=pad,
                                  extra_special_tokens=extra or {}, padding_side="left")
    tok.chat_template = chat_template
    return tok


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


# ----------------------------------------------------------------------------------------------- training data
AUX_PAIRS = [(c, s) for c in COLORS for s in SHAPES]  # 12 colour-shape presence targets


def _aux_targets(ex) -> tuple[np.ndarray, int, int]:
    """Targets of the throwaway vision head: colour-shape pairs present (multi-hot, shapes images only),
    object count class (-1 if none) and digit class (-1 if none)."""
    pairs = np.zeros(len(AUX_PAIRS), np.float32)
    objs = ex.meta.get("objects")
    if objs is not None:
        for o in objs:
            pairs[AUX_PAIRS.index(tuple(o))] = 1.0
        return pairs, len(objs) - 1, -1
    d = ex.meta.get("digit", None)
    if d is None and "digits_index" in ex.meta:
        d = int(ex.label) if ex.label.isdigit() else -1
    return pairs, -1, int(d if d is not None else -1)


def make_training_set(processor, n_per_task: int, seed: int) -> dict[str, torch.Tensor]:
    """Chat-formatted (image, prompt, answer) sequences of every bundled task's ``train`` part, as tensors.

    ``input_ids``/``labels`` are right-padded; ``labels`` is -100 everywhere except the answer token and eos.
    """
    tok = processor.tokenizer
    rows = []
    for name in bundled_task_names("trained"):  # never the unseen-question or shifted tasks
        task = get_task(name, n_per_task, seed=seed, part="train")
        for ex in task.examples:
            rows.append((ex, task.prompt_text(ex.question)))
    pixel = processor.image_processor([ex.image for ex, _ in rows], return_tensors="pt")["pixel_values"]
    ids, labs = [], []
    for ex, text in rows:
        p_ids = processor.tokenizer(_expand(processor, chat_prompt(processor, text)), add_special_tokens=False)[
            "input_ids"]
        a_ids = tok(" " + ex.label, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        ids.append(p_ids + a_ids)
        labs.append([-100] * len(p_ids) + a_ids)
    L = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), L), tok.pad_token_id, dtype=torch.long)
    labels = torch.full((len(ids), L), -100, dtype=torch.long)
    attn = torch.zeros((len(ids), L), dtype=torch.long)
    for i, (x, y) in enumerate(zip(ids, labs)):
        input_ids[i, : len(x)] = torch.tensor(x)
        labels[i, : len(y)] = torch.tensor(y)
        attn[i, : len(x)] = 1
    aux = [_aux_targets(ex) for ex, _ in rows]
    return {
        "input_ids": input_ids, "attention_mask": attn, "labels": labels, "pixel_values": pixel,
        "aux_pairs": torch.tensor(np.stack([a[0] for a in aux])),
        "aux_count": torch.tensor([a[1] for a in aux]), "aux_digit": torch.tensor([a[2] for a in aux]),
    }


def _expand(processor, prompt: str) -> str:
    """The prompt with ``<image>`` expanded to the model's number of image tokens (what the processor does)."""
    n = (processor.image_processor.size["height"] // processor.patch_size) ** 2
    return prompt.replace(processor.image_token, processor.image_token * n)


WARMUP_STEPS = 100  # linear learning-rate warm-up before the cosine decay


def lr_factor(step: int, steps: int) -> float:
    """The learning rate at ``step`` of a ``steps``-step run, as a fraction of its peak: linear warm-up over
    ``WARMUP_STEPS``, then cosine decay to 0 at ``steps``."""
    if step < WARMUP_STEPS:
        return (step + 1) / WARMUP_STEPS
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - WARMUP_STEPS) / max(1, steps - WARMUP_STEPS))))


def train(out: Path, cfg: DemoConfig, seed: int = 0, steps: int = 3000, minutes: float | None = None,
          batch_size: int = 48, lr: float = 1.5e-3, n_per_task: int = 4000, vision_warmup: int = 300,
          save_every: int = 250, resume: bool = False, threads: int | None = None, device: str = "cpu",
          log=print) -> dict:
    """Train the demo VLM on all bundled tasks together; save it in HF format to ``out``. Returns a summary.

    ``device``: ``cpu`` (about 35 minutes for 1500 steps on 2 cores) or ``cuda``; the same seed gives the same data
    and batch order on both, but the weights are not bit-identical across devices."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    if threads:
        torch.set_num_threads(threads)
    out = Path(out)
    t_start = time.time()
    processor = build_processor(cfg)
    start_step, base_minutes = 0, 0.0
    state_path = out / "training.json"
    if resume and state_path.is_file():
        state = json.loads(state_path.read_text())
        model = AutoModelForImageTextToText.from_pretrained(out)
        processor = AutoProcessor.from_pretrained(out)
        start_step = int(state["steps"])
        base_minutes = float(state.get("train_minutes", 0.0))
        log(f"resuming from step {start_step}")
    else:
        model = build_model(cfg, processor, seed)
    data = make_training_set(processor, n_per_task, seed)
    n = len(data["input_ids"])
    model.to(device)
    data = {k: v.to(device) for k, v in data.items()}
    log(f"training set: {n} sequences of length {data['input_ids'].shape[1]}; "
        f"parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M")
    vis_dim = cfg.vision_hidden
    aux_head = torch.nn.Linear(vis_dim, len(AUX_PAIRS) + 4 + 10).to(device)  # throwaway head on pooled vision
    params = list(model.parameters()) + list(aux_head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(start_step):  # replay the batch order so a resumed run sees the same batches
        torch.randperm(n, generator=g)[:batch_size]

    vision = model.model.vision_tower
    model.train()
    step, last_log, losses = start_step, time.time(), []
    while step < steps:
        if minutes is not None and (time.time() - t_start) > minutes * 60:
            log(f"time budget of {minutes} min reached at step {step}")
            break
        idx = torch.randperm(n, generator=g)[:batch_size].to(device)
        for group in opt.param_groups:
            group["lr"] = lr * lr_factor(step, steps)
        pv = data["pixel_values"][idx]
        feats = vision(pixel_values=pv).last_hidden_state.mean(1)  # [batch, vision_hidden]
        logits = aux_head(feats)
        is_shape = data["aux_count"][idx] >= 0
        aux = torch.zeros((), device=device)
        if is_shape.any():
            aux = aux + torch.nn.functional.binary_cross_entropy_with_logits(
                logits[is_shape, :12], data["aux_pairs"][idx][is_shape])
            aux = aux + torch.nn.functional.cross_entropy(logits[is_shape, 12:16], data["aux_count"][idx][is_shape])
        is_digit = data["aux_digit"][idx] >= 0
        if is_digit.any():
            aux = aux + torch.nn.functional.cross_entropy(logits[is_digit, 16:], data["aux_digit"][idx][is_digit])
        if step < vision_warmup:
            loss, lm = aux, torch.zeros((), device=device)
        else:
            L = int(data["attention_mask"][idx].sum(1).max())
            outp = model(input_ids=data["input_ids"][idx, :L], attention_mask=data["attention_mask"][idx, :L],
                         pixel_values=pv, labels=data["labels"][idx, :L])
            lm = outp.loss
            loss = lm + 0.3 * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        losses.append((float(lm.detach()), float(aux.detach())))
        if time.time() - last_log > 30 or step == steps:
            m = np.mean(losses[-50:], axis=0)
            log(f"step {step}/{steps} lm {m[0]:.4f} aux {m[1]:.4f} lr {lr * lr_factor(step, steps):.2e} "
                f"elapsed {(time.time() - t_start) / 60:.1f} min")
            last_log = time.time()
        if step % save_every == 0 or step == steps:
            _save(model, processor, out, cfg, seed, step, steps, t_start - base_minutes * 60, batch_size, lr, n_per_task,
                  vision_warmup, device, minutes)
    summary = _save(model, processor, out, cfg, seed, step, steps, t_start - base_minutes * 60, batch_size, lr,
                    n_per_task, vision_warmup, device, minutes)
    log(f"saved to {out} after {step} steps ({summary['train_minutes']:.1f} min)")
    return summary


def _device_name(device: str) -> str:
    if str(device).startswith("cuda"):
        return f"1 GPU ({torch.cuda.get_device_name(torch.device(device))})"
    return f"{torch.get_num_threads()} CPU threads"


def _save(model, processor, out, cfg, seed, step, steps, t_start, batch_size, lr, n_per_task, vision_warmup,
          device="cpu", minutes=None):
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    model.train()
    summary = {
        "config": asdict(cfg), "seed": seed, "steps": step, "planned_steps": steps, "batch_size": batch_size,
        "lr": lr, "n_per_task": n_per_task, "vision_warmup_steps": vision_warmup,
        "train_minutes": (time.time() - t_start) / 60,  # t_start is shifted back by earlier runs' minutes
        "threads": torch.get_num_threads(), "torch": torch.__version__, "device": _device_name(device),
        "minutes_budget": minutes,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    return summary


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


def write_model_card(model_dir: Path, results: dict[str, dict], n: int, seed: int, eval_minutes: float) -> Path:
    """Write ``README.md`` (the model card) into ``model_dir`` from ``training.json`` and measured ``results``."""
    info = json.loads((Path(model_dir) / "training.json").read_text())
    c = info["config"]
    weights = sum(f.stat().st_size for f in Path(model_dir).glob("*.safetensors"))
    rows = "\n".join(f"| `{k}` | {v['accuracy']:.3f} | {v['chance']:.3f} | {v['n']} |" for k, v in results.items())
    n_img = (c["image_size"] // c["patch_size"]) ** 2
    device = info.get("device", f"{info['threads']} CPU threads")
    on_gpu = "GPU" in device
    where = device if on_gpu else f"2 CPU cores ({device}, sharing the machine with other work)"
    budget = f" --minutes {info['minutes_budget']:g}" if info.get("minutes_budget") else ""
    stopped = ""
    if info["steps"] < info["planned_steps"]:
        frac = lr_factor(info["steps"], info["planned_steps"])
        stopped = (f" of {info['planned_steps']} planned (the run's time budget, `--minutes "
                   f"{info.get('minutes_budget', '?')}`, ended it there, with the cosine learning rate at {frac:.1%} "
                   f"of its peak)")
    text = f"""# Super Neuron Explorer demo VLM

A small but genuine vision-language model in Hugging Face format, trained from scratch by this project's own script
(`python -m sn_core.demo_model train`) on the six bundled categorical VQA tasks, so that Super Neuron search runs
offline on a fresh machine. It loads with `AutoModelForImageTextToText.from_pretrained` / `AutoProcessor` like any
hub LLaVA, with no network and no torchvision.

## Architecture (`LlavaForConditionalGeneration`)
- Vision tower: SigLIP, {c["vision_layers"]} layers, width {c["vision_hidden"]}, {c["vision_heads"]} heads, MLP {c["vision_mlp"]}; \
{c["image_size"]}x{c["image_size"]} RGB input, patch {c["patch_size"]} -> {n_img} image tokens (all kept: `vision_feature_select_strategy="full"`){"" if c.get("vision_use_head", True) else "; no pooling head (LLaVA reads the patch tokens, never the pooled output)"}.
- Projector: LLaVA 2-layer MLP (GELU) from {c["vision_hidden"]} to {c["text_hidden"]}.
- Language model: Llama decoder, **{c["text_layers"]} layers**, d_model {c["text_hidden"]}, {c["text_heads"]} heads of \
{c["text_hidden"] // c["text_heads"]}, d_mlp {c["text_mlp"]} (SwiGLU), so `blocks.{{L}}.mlp.hook_post` has {c["text_mlp"]} neurons per layer.
- Tokenizer: word-level over the bundled tasks' vocabulary (lower-cased, punctuation split), special tokens
  `<image>`, `<|user|>`, `<|assistant|>`, `<|end|>`, `</s>`; a Jinja chat template; left padding.
- Parameters: {info["parameters"] / 1e6:.2f} M ({weights / 1e6:.1f} MB of safetensors, float32).

## Training recipe
- Data: the `train` part of every bundled task ({info["n_per_task"]} examples per task, label-balanced), disjoint from the
  `eval` part that probe and test splits are drawn from (shapes: separate seeded streams; digits: a fixed 60/40 split of
  scikit-learn's `load_digits`). Prompts are chat-formatted exactly as at inference; the loss covers the answer word
  and the end-of-sequence token `</s>` only.
- Stage 1 ({info["vision_warmup_steps"]} steps): the vision tower alone, with a throwaway head on its mean-pooled output
  predicting which colour-shape pairs are present, the object count and the digit.
- Stage 2: end to end (next-token loss + 0.3 x the stage-1 loss), AdamW (lr {info["lr"]}, betas 0.9/0.98, weight decay
  0.01), {WARMUP_STEPS} warm-up steps then cosine decay, batch {info["batch_size"]}, gradient clipping 1.0.
- {info["steps"]} steps in total{stopped}, seed {info["seed"]}, {info["train_minutes"]:.1f} minutes on {where}
  (torch {info["torch"]}).
- Reproduce: `python -m sn_core.demo_model train --out assets/demo-vlm --steps {info["planned_steps"]} --seed {info["seed"]} \
--batch-size {info["batch_size"]} --n-per-task {info["n_per_task"]} --device {"cuda" if on_gpu else "cpu"}{budget}` \
(`--device cpu` runs the same recipe, with the same data and batch order, on a CPU; weights from another device are \
not bit-identical, and a time budget stops at another step on other hardware: leave out `--minutes` to run every \
planned step).

## Measured accuracy of its own greedy answers
Held-out `eval` part of each task, {n} label-balanced examples per task (seed {seed}); the generated answer is
normalised and must name the label (anything else counts as wrong). Measured by
`python -m sn_core.demo_model evaluate --n {n} --seed {seed} --card` in {eval_minutes:.1f} min.

| task | accuracy | chance | n |
|---|---|---|---|
{rows}

A model this small, trained for minutes on a CPU, does not learn every task equally well. That is fine for this
project: the point of Super Neurons is to read the answer from inside the model, often
better than the model says it.
"""
    path = Path(model_dir) / "README.md"
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sn_core.demo_model", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the demo VLM and save it in Hugging Face format")
    t.add_argument("--out", type=Path, default=DEMO_MODEL_DIR)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--minutes", type=float, default=None, help="stop after this many minutes (checkpointed)")
    t.add_argument("--batch-size", type=int, default=48)
    t.add_argument("--lr", type=float, default=1.5e-3)
    t.add_argument("--n-per-task", type=int, default=4000)
    t.add_argument("--vision-warmup", type=int, default=300)
    t.add_argument("--save-every", type=int, default=250)
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--device", default="cpu", help="cpu (reference) or cuda")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--tiny", action="store_true", help="a tiny architecture, for tests of this script")
    t.add_argument("--arch", nargs="*", default=[], metavar="FIELD=INT",
                   help="override DemoConfig fields, e.g. text_layers=12 text_hidden=192 (architecture experiments)")
    e = sub.add_parser("evaluate", help="print base-model test accuracy per bundled task")
    e.add_argument("--model", type=Path, default=DEMO_MODEL_DIR)
    e.add_argument("--n", type=int, default=200)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true")
    e.add_argument("--card", action="store_true", help="write the measured figures into the model card README.md")
    a = p.parse_args(argv)
    if a.cmd == "train":
        cfg = DemoConfig()
        if a.tiny:
            cfg = DemoConfig(vision_hidden=32, vision_layers=1, vision_heads=2, vision_mlp=64, text_hidden=32,
                             text_layers=2, text_heads=2, text_kv_heads=2, text_mlp=64)
        fields = {f.name for f in dataclasses.fields(DemoConfig)}
        for item in a.arch:
            key, _, value = item.partition("=")
            if key not in fields or not value.lstrip("-").isdigit():
                p.error(f"--arch {item!r}: expected FIELD=INT with FIELD one of {', '.join(sorted(fields))}")
            cfg = dataclasses.replace(cfg, **{key: int(value)})
        train(a.out, cfg, seed=a.seed, steps=a.steps, minutes=a.minutes, batch_size=a.batch_size, lr=a.lr,
              n_per_task=a.n_per_task, vision_warmup=a.vision_warmup, save_every=a.save_every, resume=a.resume,
              threads=a.threads, device=a.device, log=lambda s: print(s, flush=True))
        return 0
    if not (a.model / "config.json").is_file():
        print(f"error: no model at {a.model} (expected config.json); train one with "
              "'python -m sn_core.demo_model train'", file=sys.stderr)
        return 2
    t0 = time.time()
    res = evaluate(a.model, n=a.n, seed=a.seed, log=(lambda s: None) if a.json else print)
    if a.card:
        print(f"model card written to {write_model_card(a.model, res, a.n, a.seed, (time.time() - t0) / 60)}")
    if a.json:
        print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The demo VLM's model card: ``README.md`` in the model folder, written from its ``training.json`` and the
accuracies ``sn_core.demo.model.evaluate`` measured (``python -m sn_core.demo evaluate --card``)."""
from __future__ import annotations

import json
from pathlib import Path

from sn_core.demo.training import WARMUP_STEPS, lr_factor


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
(`python -m sn_core.demo train`) on the six bundled categorical VQA tasks, so that Super Neuron search runs
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
- Reproduce: `python -m sn_core.demo train --out assets/demo-vlm --steps {info["planned_steps"]} --seed {info["seed"]} \
--batch-size {info["batch_size"]} --n-per-task {info["n_per_task"]} --device {"cuda" if on_gpu else "cpu"}{budget}` \
(`--device cpu` runs the same recipe, with the same data and batch order, on a CPU; weights from another device are \
not bit-identical, and a time budget stops at another step on other hardware: leave out `--minutes` to run every \
planned step).

## Measured accuracy of its own greedy answers
Held-out `eval` part of each task, {n} label-balanced examples per task (seed {seed}); the generated answer is
normalised and must name the label (anything else counts as wrong). Measured by
`python -m sn_core.demo evaluate --n {n} --seed {seed} --card` in {eval_minutes:.1f} min.

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

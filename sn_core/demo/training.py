"""Training of the demo VLM (``python -m sn_core.demo train``): the training set built from every bundled
task's ``train`` part, the learning-rate schedule, the two-stage loop (vision tower with a throwaway head first,
then end to end) and the checkpoints with their ``training.json``. The architecture is in ``sn_core.demo.model``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from sn_core.data import bundled_task_names, get_task
from sn_core.data.bundled.shapes import COLORS, SHAPES
from sn_core.demo.model import DemoConfig, build_model, build_processor
from sn_core.models.prompts import chat_prompt

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
    if threads:
        torch.set_num_threads(threads)
    out = Path(out)
    t_start = time.time()
    model, processor, start_step, base_minutes = _start_or_resume(out, cfg, seed, resume, log)
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

    def save(step):
        return _save(model, processor, out, cfg, seed, step, steps, t_start - base_minutes * 60, batch_size, lr,
                     n_per_task, vision_warmup, device, minutes)

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
        aux = _aux_loss(vision, aux_head, data, idx, pv, device)
        if step < vision_warmup:
            loss, lm = aux, torch.zeros((), device=device)
        else:
            lm = _lm_loss(model, data, idx, pv)
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
            save(step)
    summary = save(step)
    log(f"saved to {out} after {step} steps ({summary['train_minutes']:.1f} min)")
    return summary


def _start_or_resume(out: Path, cfg: DemoConfig, seed: int, resume: bool, log):
    """(model, processor, first step, minutes already trained): a new model, or with ``resume`` the checkpoint in
    ``out`` and the step its ``training.json`` reached."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = build_processor(cfg)
    state_path = out / "training.json"
    if resume and state_path.is_file():
        state = json.loads(state_path.read_text())
        model = AutoModelForImageTextToText.from_pretrained(out)
        processor = AutoProcessor.from_pretrained(out)
        log(f"resuming from step {int(state['steps'])}")
        return model, processor, int(state["steps"]), float(state.get("train_minutes", 0.0))
    return build_model(cfg, processor, seed), processor, 0, 0.0


def _aux_loss(vision, aux_head, data, idx, pv, device) -> torch.Tensor:
    """The stage-1 loss of the throwaway head on the mean-pooled vision output: colour-shape pairs present
    (binary cross-entropy) and object count on shapes images, the digit class on digit images."""
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
    return aux


def _lm_loss(model, data, idx, pv) -> torch.Tensor:
    """Next-token loss on the answer tokens of the batch, cut to its longest sequence."""
    L = int(data["attention_mask"][idx].sum(1).max())
    return model(input_ids=data["input_ids"][idx, :L], attention_mask=data["attention_mask"][idx, :L],
                 pixel_values=pv, labels=data["labels"][idx, :L]).loss


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

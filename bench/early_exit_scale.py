"""Early exit vs full greedy generation on real-size model shapes (random weights), side by side in one run.

The demo model is 5 M parameters: on a CPU its batch-1 latency is dominated by per-operator overhead that FLOPs do
not count, so early exit there stays well below its FLOP limit. This benchmark asks the question the FLOP limit is
about (does early exit do only the work it should?) on models shaped like real VLMs, built from transformers'
config classes with random weights (nothing is downloaded; accuracy is meaningless, timing is not):

- ``llava-7b``: a LLaVA with a SigLIP-so400m-shaped vision tower (27 layers x 1152, 384 px, patch 14 -> 729 image
  tokens) and a Llama-2-7B-shaped decoder (32 layers x 4096, d_mlp 11008). Needs a GPU (bf16, ~15 GB).
- ``small``: a LLaVA with a 2 x 128 vision tower (64 px, patch 8 -> 64 tokens) and a 16 x 512 Llama decoder
  (d_mlp 1376, ~50 M parameters): runs on a CPU in a minute.

For each exit layer and batch size it times (a) ``generate`` of ``--new-tokens`` tokens (greedy) and (b) the
early-exit predictor (``EarlyExitPredictor.values_from_inputs`` + the classifier rule: truncated forward, read one
neuron) on the same encoded inputs, warmed up, every exit layer against the same generation runs (the paths
alternating batch by batch), medians of repeats, and prints the measured speed-up
beside the analytic FLOP ratio (``sn_core.models.flops``) and the share of it reached. The processor call (PIL image +
question -> tensors, on the CPU) is timed apart and added to both sides for the end-to-end speed-up.

    python bench/early_exit_scale.py --preset small
    python bench/early_exit_scale.py --preset llava-7b --device cuda --layers 0 3 7 --batch-sizes 1 8
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import time_exit_vs_generate  # noqa: E402

PRESETS = {
    "llava-7b": dict(vision=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27,
                                 num_attention_heads=16, image_size=384, patch_size=14),
                     text=dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                               num_key_value_heads=32),
                     vocab_size=32064, dtype="bf16"),
    "small": dict(vision=dict(hidden_size=128, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                              image_size=64, patch_size=8),
                  text=dict(hidden_size=512, intermediate_size=1376, num_hidden_layers=16, num_attention_heads=8,
                            num_key_value_heads=8),
                  vocab_size=32064, dtype="fp32"),
}


def build(preset: str, device: str, dtype: torch.dtype, seed: int = 0):
    """A random-weight LLaVA of the preset's shape on ``device`` and its processor (word-level tokenizer)."""
    from transformers import (LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor,
                              SiglipImageProcessorPil, SiglipVisionConfig)

    from sn_core.models.tiny import _template, tiny_tokenizer

    p = PRESETS[preset]
    v = p["vision"]
    tpl = _template("USER: ", " ", "<image>\n", "ASSISTANT:")
    tok = tiny_tokenizer(["<s>", "</s>", "<image>"], tpl, {"image_token": "<image>"}, bos="<s>", eos="</s>")
    ip = SiglipImageProcessorPil(size={"height": v["image_size"], "width": v["image_size"]},
                                 image_mean=[0.5] * 3, image_std=[0.5] * 3)
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=v["patch_size"],
                          vision_feature_select_strategy="full", chat_template=tpl, image_token="<image>",
                          num_additional_image_tokens=0)
    n_img = (v["image_size"] // v["patch_size"]) ** 2
    ids = dict(pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    cfg = LlavaConfig(vision_config=SiglipVisionConfig(**v, vision_use_head=False),
                      text_config=LlamaConfig(**p["text"], vocab_size=p["vocab_size"], max_position_embeddings=4096,
                                              **ids),
                      image_token_index=tok.convert_tokens_to_ids("<image>"), image_seq_length=n_img,
                      vision_feature_select_strategy="full", vision_feature_layer=-1)
    torch.manual_seed(seed)
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlavaForConditionalGeneration(cfg)
    finally:
        torch.set_default_dtype(old)
    gc = model.generation_config
    gc.pad_token_id, gc.eos_token_id, gc.bos_token_id = tok.pad_token_id, tok.eos_token_id, tok.bos_token_id
    gc.do_sample = False
    return model.eval(), proc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--layers", type=int, nargs="+", default=None, help="exit layers (default: 0 and n/4 - 1)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--n", type=int, default=16, help="examples timed per batch size")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--new-tokens", type=int, default=1, help="tokens full generation produces (a one-token label)")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)

    from sn_core.classifier.estimator import SuperNeuronClassifier
    from sn_core.data import get_task
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.data.images import as_rgb
    from sn_core.models.flops import flop_ratio
    from sn_core.models import wrap_model
    from sn_core.models.loading import resolve_dtype

    dtype = resolve_dtype(PRESETS[a.preset]["dtype"], a.device)
    t0 = time.perf_counter()
    model, proc = build(a.preset, a.device, dtype)
    loaded = wrap_model(model, proc, model_id=f"random-{a.preset}", weights_hash=f"random-{a.preset}-seed0")
    n_params = sum(p.numel() for p in model.parameters())
    n_layers = loaded.n_layers
    layers = a.layers if a.layers else sorted({0, max(0, n_layers // 4 - 1)})
    task = get_task("shapes-color", a.n, seed=99, part="eval")
    images = [as_rgb(e.image) for e in task.examples]
    questions = [e.question for e in task.examples]
    instruction = "Answer with one word."
    prompts = [loaded.prompt(f"{q} {instruction}") for q in questions]
    prompt_len = int(loaded.encode(images[:1], prompts[:1])["input_ids"].shape[1])
    tok = proc.tokenizer
    dev_name = torch.cuda.get_device_name() if a.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"preset {a.preset}: random-weight LLaVA, {n_params / 1e9:.2f} B parameters, {n_layers} decoder layers, "
          f"{str(dtype).replace('torch.', '')} on {dev_name}; built in {time.perf_counter() - t0:.0f} s")
    print(f"prompt {prompt_len} tokens; full generation: {a.new_tokens} new token(s), greedy; "
          f"{a.n} examples per batch size, median of {a.repeats} repeats after warm-up, every exit layer against "
          "the same generation runs, paths alternating batch by batch")

    rows = []
    print("model: inputs already encoded, on the device; end to end: plus the processor call (PIL image + question "
          "-> tensors) each path makes")
    print(f"{'exit layer':>10} {'batch':>5} {'full ms/ex':>11} {'early ms/ex':>12} {'speedup':>8} {'limit':>6} "
          f"{'of limit':>9} {'encode ms/ex':>13} {'end-to-end speedup':>19}")
    preds, limit = {}, {}
    for layer in layers:
        clf = SuperNeuronClassifier(neurons=(f"blocks.{layer}.mlp.hook_post[0]",))
        clf.fit(np.array([[0.0], [1.0], [0.1], [0.9]]), np.array(["no", "yes", "no", "yes"]))
        preds[layer] = EarlyExitPredictor(loaded, clf, instruction=instruction)
        limit[layer] = flop_ratio(loaded, prompt_len, layer, a.new_tokens)["ratio"]
    for bs in a.batch_sizes:  # every exit layer against the same generation runs, batch by batch in turn
        t = time_exit_vs_generate(loaded, preds, images, questions, prompts, bs, a.repeats,
                                  dict(max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens,
                                       do_sample=False, pad_token_id=tok.pad_token_id))
        f, ef, ee = t["full"], t["encode_full"], t["encode_early"]
        for layer in layers:
            e, lim = t[f"early:{layer}"], limit[layer]
            rows.append((layer, bs, f / e, lim))
            print(f"{layer:>10} {bs:>5} {1000 * f:>11.2f} {1000 * e:>12.2f} {f / e:>8.2f} {lim:>6.2f} "
                  f"{100 * f / e / lim:>8.0f}% {1000 * (ef + ee) / 2:>13.2f} {(f + ef) / (e + ee):>19.2f}",
                  flush=True)
    worst = min(r[2] / r[3] for r in rows)
    print(f"lowest share of the FLOP limit reached: {100 * worst:.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())

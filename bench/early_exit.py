"""Early exit vs full greedy generation, measured side by side in one run (docs/method.md, "Speed").

For each exit layer and batch size: latency of (a) the full model generating the answer (greedy, as many new tokens
as the longest label needs) and (b) the early-exit predictor (vision tower, projector and decoder layers 0..L, read
the Super Neuron, apply its rule), on the same fresh images and questions. Two figures per row:

- **model**: both paths on inputs already encoded (``loaded.encode`` / ``EarlyExitPredictor.encode``), i.e. the
  model work alone, which is what the analytic FLOP ratio (``sn_core.models.flops``, the limit early exit can reach)
  counts;
- **end to end**: plus the processor call each path makes (PIL image + question -> tensors, timed apart), i.e. what
  a user waits for from an image.

Both are warmed up; every exit layer is timed against the same generation runs, the paths alternating batch by
batch (their order rotating each repeat), and times are medians over repeats. The exit layers are ``--layers`` or,
by default, every layer of the first quarter (``0 .. n_layers/4 - 1``), each with the best Super Neuron of that
layer found by a search on ``--task`` (probe split; no baselines); its test accuracy is printed above the table.
A "targets" block then says, per batch size, whether an exit in the first quarter is >= 5x faster and reaches
>= 90% of its FLOP limit (model work), and at which layers both hold. The last line is exactly
``speedup <x> limit <y>`` for batch size 1 (end to end) at the first-quarter layer with the most accurate neuron.

    python bench/early_exit.py [--model demo] [--task shapes-color] [--layers 0 1] [--batch-sizes 1 8 32]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import fresh_eval_set, time_exit_vs_generate  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="demo")
    ap.add_argument("--task", default="shapes-color")
    ap.add_argument("--layers", type=int, nargs="+", default=None,
                    help="exit layers (default: the first quarter, 0 .. n_layers/4 - 1)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--n", type=int, default=32, help="examples timed per batch size")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)

    from sn_core.config import SearchConfig
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.models.flops import flop_ratio
    from sn_core.models import load_model
    from sn_core.data.answers import match_label
    from sn_core.search.run import run_search

    loaded = load_model(a.model, device=a.device, dtype=a.dtype)
    n_layers = loaded.n_layers
    layers = sorted(set(a.layers)) if a.layers else list(range(max(1, n_layers // 4)))
    res = run_search(SearchConfig(model=a.model, task=a.task, layers=tuple(layers), baselines=False, device=a.device,
                                  dtype=a.dtype), loaded=loaded)
    fs = fresh_eval_set(loaded, a.task, a.n)
    task, images, questions, truth, prompts = fs.task, fs.images, fs.questions, fs.truth, fs.prompts
    new_tokens, pad_id, prompt_len = fs.new_tokens, fs.pad_id, fs.prompt_len

    full_batch = loaded.encode(images, prompts, generation=True)
    with torch.inference_mode():
        full_out = loaded.model.generate(**full_batch, max_new_tokens=new_tokens, do_sample=False,
                                         pad_token_id=pad_id)
    answers = loaded.processor.tokenizer.batch_decode(full_out[:, full_batch["input_ids"].shape[1]:], skip_special_tokens=True)
    print(f"model {loaded.model_id} ({n_layers} decoder layers, {str(loaded.dtype).replace('torch.', '')}, "
          f"{loaded.device}, {torch.get_num_threads()} threads); task {a.task}")
    print(f"prompt {prompt_len} tokens, full generation: up to {new_tokens} new tokens (the longest label); timed on "
          f"{a.n} fresh examples, median of {a.repeats} repeats after warm-up, paths alternating batch by batch")
    print(f"full generation accuracy on these examples: "
          f"{np.mean([match_label(x, task.labels) == y for x, y in zip(answers, truth)]):.3f}")
    print("model: inputs already encoded; end to end: plus the processor call each path makes (PIL image + question "
          "-> tensors)")

    best = {int(r["layer"]): r for r in res.layer_best(res.sites[0]).to_dict(orient="records")}
    preds, sn_test, limit = {}, {}, {}
    for layer in layers:
        clf = res.classifier([best[layer]["neuron_id"]])
        preds[layer] = EarlyExitPredictor(loaded, clf, instruction=res.task.instruction)
        acc_fresh = float(np.mean(clf.predict(preds[layer].values(images, questions)) == truth))
        sn_test[layer] = float(best[layer]["test_accuracy"])
        limit[layer] = flop_ratio(loaded, prompt_len, layer, new_tokens)["ratio"]
        print(f"layer {layer}: Super Neuron {', '.join(clf.neurons_)}, test accuracy {sn_test[layer]:.3f} (search), "
              f"{acc_fresh:.3f} on the timed examples; FLOP limit {limit[layer]:.2f}")
    print(f"{'layer':>5} {'SN test':>7} {'batch':>5} {'full ms/ex':>11} {'early ms/ex':>12} {'speedup':>8} "
          f"{'limit':>6} {'of limit':>9} {'encode ms/ex':>13} {'end-to-end':>11} {'of limit':>9}")
    headline = None
    rows = []  # (layer, batch, model speedup, limit)
    for bs in a.batch_sizes:  # every exit layer against the same generation runs, batch by batch in turn
        t = time_exit_vs_generate(loaded, preds, images, questions, prompts, bs, a.repeats,
                                  dict(max_new_tokens=new_tokens, do_sample=False, pad_token_id=pad_id))
        t_full, e_full, e_early = t["full"], t["encode_full"], t["encode_early"]
        for layer in layers:
            t_early, lim = t[f"early:{layer}"], limit[layer]
            speed, e2e = t_full / t_early, (t_full + e_full) / (t_early + e_early)
            print(f"{layer:>5} {sn_test[layer]:>7.3f} {bs:>5} {1000 * t_full:>11.2f} {1000 * t_early:>12.2f} "
                  f"{speed:>8.2f} {lim:>6.2f} {100 * speed / lim:>8.0f}% {1000 * (e_full + e_early) / 2:>13.2f} "
                  f"{e2e:>11.2f} {100 * e2e / lim:>8.0f}%", flush=True)
            rows.append((layer, bs, speed, lim))
            if bs == a.batch_sizes[0] and (headline is None or sn_test[layer] > headline[0]):
                headline = (sn_test[layer], e2e, lim)
    quarter = [r for r in rows if r[0] < max(1, n_layers // 4)]
    if quarter:  # the targets, per batch size, on the model work (what the FLOP limit counts)
        print("targets (model work, exits in the first quarter):")
        for bs in a.batch_sizes:
            mine = [r for r in quarter if r[1] == bs]
            fast = max(mine, key=lambda r: r[2])
            share = max(mine, key=lambda r: r[2] / r[3])
            both = [r for r in mine if r[2] >= 5 and r[2] >= 0.9 * r[3]]
            print(f"  batch {bs:>3}: fastest {fast[2]:.2f}x (layer {fast[0]}) -> >= 5x {'met' if fast[2] >= 5 else 'not met'}; "
                  f"best share {100 * share[2] / share[3]:.0f}% of the limit (layer {share[0]}) -> >= 90% "
                  f"{'met' if share[2] >= 0.9 * share[3] else 'not met'}; both at one layer: "
                  f"{', '.join(f'layer {r[0]}' for r in both) or 'none'}")
    print(f"speedup {headline[1]:.2f} limit {headline[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

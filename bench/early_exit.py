"""Early exit vs full greedy generation, measured side by side in one run (method.md, "Speed").

For each batch size: latency of (a) the full model generating the answer (greedy, as many new tokens as the
longest label needs) and (b) the early-exit predictor (vision tower, projector and decoder
layers 0..L, read the Super Neuron, apply its rule), both from the same PIL images and questions, both including
preprocessing (processor call). Both are warmed up first; times are medians over interleaved repeats. Beside the measured
speed-up it prints the analytic FLOP ratio of the two (``sn_core.flops``), the limit early exit can reach.

The exit layer is ``--layer`` or, by default, the layer of the best Super Neuron with layer <= n_layers/4 found by
a search on ``--task`` (probe split only; no baselines). The last line is exactly ``speedup <x> limit <y>`` for
batch size 1 (per-sample latency).

    python bench/early_exit.py [--model demo] [--task shapes-color] [--layer L] [--batch-sizes 1 8 32]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _sync(device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def _time(fn, repeats: int, device) -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="demo")
    ap.add_argument("--task", default="shapes-color")
    ap.add_argument("--layer", type=int, default=None, help="exit layer (default: best SN at layer <= n/4)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--n", type=int, default=32, help="examples timed per batch size")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)

    from sn_core.baselines import label_token_budget
    from sn_core.config import SearchConfig
    from sn_core.data import get_task
    from sn_core.early_exit import EarlyExitPredictor
    from sn_core.extract import _rgb
    from sn_core.flops import flop_ratio
    from sn_core.models import load_model
    from sn_core.search import run_search

    loaded = load_model(a.model, device=a.device, dtype=a.dtype)
    n_layers = loaded.n_layers
    l_max = a.layer if a.layer is not None else max(0, n_layers // 4)
    cfg = SearchConfig(model=a.model, task=a.task, l_max=l_max, layers=(a.layer,) if a.layer is not None else None,
                       baselines=False, device=a.device, dtype=a.dtype)
    res = run_search(cfg, loaded=loaded)
    clf = res.classifier()
    pred = EarlyExitPredictor(loaded, clf)
    layer = pred.exit_layer
    task = get_task(a.task, a.n, seed=99, part="eval")  # fresh examples, not the search's
    images = [_rgb(e.image) for e in task.examples]
    questions = [e.question for e in task.examples]
    prompts = [loaded.prompt(task.prompt_text(q)) for q in questions]
    new_tokens = label_token_budget(loaded.processor, task.labels)
    tok = loaded.processor.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    gen_lengths = []

    def full(lo, hi):
        batch = loaded.encode(images[lo:hi], prompts[lo:hi], generation=True)
        with torch.inference_mode():
            out = loaded.model.generate(**batch, max_new_tokens=new_tokens, do_sample=False, pad_token_id=pad_id)
        gen_lengths.append(out.shape[1] - batch["input_ids"].shape[1])
        return out

    def early(lo, hi):
        X = pred.values(images[lo:hi], questions[lo:hi])
        return clf.predict(X)

    def run_all(fn, bs):
        for lo in range(0, a.n, bs):
            fn(lo, min(lo + bs, a.n))

    prompt_len = int(loaded.encode(images[:1], prompts[:1])["input_ids"].shape[1])
    lim = flop_ratio(loaded, prompt_len, layer, new_tokens)
    # Agreement of the two paths' answers on these fresh examples (not a benchmark figure, a sanity check).
    ee_labels = early(0, a.n)
    full_batch = loaded.encode(images, prompts, generation=True)
    with torch.inference_mode():
        full_out = loaded.model.generate(**full_batch, max_new_tokens=new_tokens, do_sample=False,
                                         pad_token_id=pad_id)
    print(f"model {loaded.model_id} ({n_layers} decoder layers, {str(loaded.dtype).replace('torch.', '')}, "
          f"{loaded.device}, {torch.get_num_threads()} threads)")
    print(f"task {a.task}: Super Neuron {', '.join(clf.neurons_)} (exit after layer {layer}; probe accuracy "
          f"{res.summary['sn_probe_accuracy']:.3f}, test accuracy {res.summary['sn_test_accuracy']:.3f})")
    print(f"prompt {prompt_len} tokens, full generation: up to {new_tokens} new tokens; "
          f"timed on {a.n} fresh examples, median of {a.repeats} repeats after warm-up")
    from sn_core.prompts import match_label

    answers = tok.batch_decode(full_out[:, full_batch["input_ids"].shape[1]:], skip_special_tokens=True)
    truth = [e.label for e in task.examples]
    print(f"accuracy on these examples: early exit {np.mean(np.array(ee_labels) == np.array(truth)):.3f}, "
          f"full generation {np.mean([match_label(x, task.labels) == y for x, y in zip(answers, truth)]):.3f}")
    print(f"FLOPs per example: full {lim['full_flops'] / 1e6:.1f} M, early exit {lim['early_exit_flops'] / 1e6:.1f} M,"
          f" ratio (limit) {lim['ratio']:.2f}")
    print(f"{'batch':>5} {'full ms/ex':>11} {'early ms/ex':>12} {'speedup':>8} {'limit':>6} {'of limit':>9}")
    first = None
    for bs in a.batch_sizes:
        run_all(full, bs)  # warm-up
        run_all(early, bs)
        gen_lengths.clear()
        tf, te = [], []
        for _ in range(a.repeats):  # interleaved, so a noisy (shared) machine slows both alike
            tf.append(_time(lambda: run_all(full, bs), 1, loaded.device))
            te.append(_time(lambda: run_all(early, bs), 1, loaded.device))
        t_full = statistics.median(tf) / a.n
        t_early = statistics.median(te) / a.n
        mean_new = float(np.mean(gen_lengths)) if gen_lengths else new_tokens
        lim_bs = flop_ratio(loaded, prompt_len, layer, max(1, round(mean_new)))
        speed = t_full / t_early
        print(f"{bs:>5} {1000 * t_full:>11.2f} {1000 * t_early:>12.2f} {speed:>8.2f} {lim_bs['ratio']:>6.2f} "
              f"{100 * speed / lim_bs['ratio']:>8.0f}%")
        if first is None:
            first = (speed, lim_bs["ratio"])
    print(f"speedup {first[0]:.2f} limit {first[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Exported shortcut (onnxruntime) vs the library's full greedy generation vs the library's eager early exit.

For each exit layer (default 0-3) and batch size (default 1 and 8), on fresh examples of ``--task`` (eval part,
seed 99: not the search's), with the best Super Neuron of that layer from a search on ``--task`` (probe split, no
baselines), exported by ``sn_core.shortcut.export_shortcut``:

- **model work**: each path on inputs encoded beforehand: ``model.generate`` (greedy, as many new tokens as the
  longest label needs), ``EarlyExitPredictor.values_from_inputs`` + rule, and the shortcut graph
  (``Shortcut.run``: onnxruntime, rule included);
- **end to end**: plus each path's processor call (PIL image + question -> inputs; the shortcut's is the numpy
  processor of ``load_shortcut``), timed apart;
- **same runtime**: a full prefill (vision, projector, every decoder layer, final norm, LM head at the last prompt
  position, argmax) exported the same way and run on onnxruntime, against the shortcut: the ratio, as a share of
  the FLOP limit of one generated token (``sn_core.models.flops``, ``new_tokens=1``).

Paths alternate batch by batch (``bench/_common.time_chunks_interleaved``), medians over ``--repeats``. Prints a
targets block (batch 1 after layer 0: >= 10x vs full generation on model work and >= 6x end to end; same-runtime
share >= 90% of the FLOP limit after layers 1-3). The last line is exactly ``shortcut speedup X limit Y``: batch 1,
exit after layer 0, model work, shortcut vs full generation, and that exit's FLOP limit.

    python bench/shortcut.py [--model demo] [--task shapes-color] [--layers 0 1 2 3] [--batch-sizes 1 8] [--n 32]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import fresh_eval_set, time_chunks_interleaved  # noqa: E402


class FullPrefill(torch.nn.Module):
    """The model's one-token answer as one graph: the shortcut's embedding, all decoder layers, norm, LM head."""

    def __init__(self, shortcut_module):
        super().__init__()
        self.sm = shortcut_module

    def forward(self, input_ids, attention_mask, pixel_values):
        net = self.sm.net
        embeds, pos = self.sm.embed(input_ids, attention_mask, pixel_values)
        hidden = net.model.language_model(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=pos,
                                          use_cache=False).last_hidden_state[:, -1]  # [batch, d_model]
        logits = net.lm_head(hidden)  # [batch, vocab]
        return logits.argmax(-1), logits


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="demo")
    ap.add_argument("--task", default="shapes-color")
    ap.add_argument("--layers", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--n", type=int, default=32, help="fresh examples timed per batch size")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--ort-threads", type=int, default=1,
                    help="onnxruntime intra-op threads (default 1: no thread pool; with 2 on 2 cores, the spinning "
                         "pools of the alternating sessions take cycles from every other path, torch included)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    from sn_core.classifier.estimator import SuperNeuronClassifier
    from sn_core.config import SearchConfig
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.models.flops import flop_ratio
    from sn_core.models import load_model
    from sn_core.search.run import run_search
    from sn_core.shortcut import export_shortcut, load_shortcut
    from sn_core.shortcut.export import ShortcutModule, _example_batch, export_graph, graph_inputs

    loaded = load_model(a.model, dtype="float32")
    layers = sorted(set(a.layers))
    res = run_search(SearchConfig(model=a.model, task=a.task, layers=tuple(layers), baselines=False), loaded=loaded)
    fs = fresh_eval_set(loaded, a.task, a.n)
    task, images, questions, truth, prompts = fs.task, fs.images, fs.questions, fs.truth, fs.prompts
    new_tokens, pad_id, prompt_len = fs.new_tokens, fs.pad_id, fs.prompt_len
    tmp = Path(tempfile.mkdtemp(prefix="sn-bench-shortcut-"))

    best = {int(r["layer"]): r for r in res.layer_best(res.sites[0]).to_dict(orient="records")}
    preds, shortcuts, limit, limit1 = {}, {}, {}, {}
    for layer in layers:
        clf = res.classifier([best[layer]["neuron_id"]])
        sub = load_model(a.model, dtype="float32", max_layers=layer + 1)
        shortcuts[layer] = load_shortcut(export_shortcut(clf, tmp / f"exit{layer}", loaded=sub), threads=a.ort_threads)
        preds[layer] = EarlyExitPredictor(loaded, clf, instruction=res.task.instruction)
        limit[layer] = flop_ratio(loaded, prompt_len, layer, new_tokens)["ratio"]
        limit1[layer] = flop_ratio(loaded, prompt_len, layer, 1)["ratio"]
        acc = float(np.mean(np.array(shortcuts[layer].predict(images, questions).labels) == truth))
        print(f"layer {layer}: {clf.neurons_[0]}, test accuracy {float(best[layer]['test_accuracy']):.3f} (search), "
              f"shortcut {acc:.3f} on the timed examples; FLOP limit {limit[layer]:.2f} (vs generation of "
              f"{new_tokens} token(s)), {limit1[layer]:.2f} (vs one-token prefill)", flush=True)

    # the full prefill exported the same way (same embedding code, every layer, LM head)
    last = loaded.n_layers - 1
    dummy = SuperNeuronClassifier(neurons=(f"blocks.{last}.mlp.hook_post[0]",)).fit([[0.0], [1.0]], ["a", "b"])
    full_mod = FullPrefill(ShortcutModule(loaded, dummy)).eval()
    mt = loaded.model.config.model_type
    export_graph(full_mod, graph_inputs(mt, _example_batch(loaded, task.prompt_text), None), mt, tmp / "full.onnx",
                 ("token", "logits"), loaded.model_id)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.ort_threads
    full_sess = ort.InferenceSession(str(tmp / "full.onnx"), opts, providers=["CPUExecutionProvider"])

    print(f"model {loaded.model_id} ({loaded.n_layers} decoder layers, float32, cpu, {a.threads} threads for torch, "
          f"{a.ort_threads} for onnxruntime); task {a.task}; prompt {prompt_len} tokens; full generation: up to "
          f"{new_tokens} new tokens; {a.n} fresh examples, median of {a.repeats} repeats after warm-up, paths alternating batch by "
          "batch")
    print(f"{'layer':>5} {'batch':>5} {'gen ms/ex':>10} {'eager ms/ex':>12} {'onnx ms/ex':>11} {'vs gen':>7} "
          f"{'vs eager':>8} {'limit':>6} {'e2e vs gen':>10} {'ort full ms':>11} {'same-rt':>8} {'limit1':>7} "
          f"{'share':>6}")
    headline = None
    rows = []
    for bs in a.batch_sizes:
        spans = [(lo, min(lo + bs, a.n)) for lo in range(0, a.n, bs)]
        gen_in = [loaded.encode(images[lo:hi], prompts[lo:hi], generation=True) for lo, hi in spans]
        ee_in = {L: [preds[L].encode(images[lo:hi], questions[lo:hi]) for lo, hi in spans] for L in layers}
        sc_in = [shortcuts[layers[0]].encode(images[lo:hi], questions[lo:hi]) for lo, hi in spans]
        full_in = [{k: v for k, v in f.items() if k != "feature_index"} for f in sc_in]

        def gen(i):
            with torch.inference_mode():
                loaded.model.generate(**gen_in[i], max_new_tokens=new_tokens, do_sample=False, pad_token_id=pad_id)

        fns = {"gen": gen, "ort_full": lambda i: full_sess.run(None, full_in[i])}
        for L in layers:
            fns[f"eager{L}"] = (lambda L: lambda i: preds[L].labels(preds[L].values_from_inputs(ee_in[L][i])))(L)
            fns[f"ort{L}"] = (lambda L: lambda i: shortcuts[L].run(sc_in[i]))(L)
        t = {k: v / a.n for k, v in time_chunks_interleaved(fns, len(spans), a.repeats, "cpu").items()}
        enc = {k: v / a.n for k, v in time_chunks_interleaved({
            "gen": lambda i: loaded.encode(images[spans[i][0]:spans[i][1]], prompts[spans[i][0]:spans[i][1]],
                                           generation=True),
            "ort": lambda i: shortcuts[layers[0]].encode(images[spans[i][0]:spans[i][1]],
                                                         questions[spans[i][0]:spans[i][1]]),
        }, len(spans), a.repeats, "cpu").items()}
        for L in layers:
            vs_gen, vs_eager = t["gen"] / t[f"ort{L}"], t[f"eager{L}"] / t[f"ort{L}"]
            e2e = (t["gen"] + enc["gen"]) / (t[f"ort{L}"] + enc["ort"])
            same = t["ort_full"] / t[f"ort{L}"]
            share = same / limit1[L]
            rows.append((L, bs, vs_gen, e2e, share))
            print(f"{L:>5} {bs:>5} {1000 * t['gen']:>10.2f} {1000 * t[f'eager{L}']:>12.2f} "
                  f"{1000 * t[f'ort{L}']:>11.3f} {vs_gen:>7.2f} {vs_eager:>8.2f} {limit[L]:>6.2f} {e2e:>10.2f} "
                  f"{1000 * t['ort_full']:>11.3f} {same:>8.2f} {limit1[L]:>7.2f} {100 * share:>5.0f}%", flush=True)
            if bs == 1 and L == 0:
                headline = (vs_gen, limit[L])
        print(f"  batch {bs}: processor ms/example: generation path {1000 * enc['gen']:.2f}, shortcut (numpy) "
              f"{1000 * enc['ort']:.2f}")
    print("targets:")
    r0 = [r for r in rows if r[0] == 0 and r[1] == 1]
    if r0:
        print(f"  batch 1, exit after layer 0: {r0[0][2]:.2f}x vs full generation (model work) -> >= 10x "
              f"{'met' if r0[0][2] >= 10 else 'not met'}; {r0[0][3]:.2f}x end to end -> >= 6x "
              f"{'met' if r0[0][3] >= 6 else 'not met'}")
    for bs in a.batch_sizes:
        mine = [r for r in rows if r[1] == bs and 1 <= r[0] <= 3]
        if mine:
            print(f"  batch {bs}: same-runtime share of the FLOP limit after layers 1-3: "
                  f"{', '.join(f'layer {r[0]} {100 * r[4]:.0f}%' for r in mine)} -> >= 90% "
                  f"{'met' if all(r[4] >= 0.9 for r in mine) else 'not met'}")
    if headline is None:
        headline = (rows[0][2], limit[rows[0][0]])
    print(f"shortcut speedup {headline[0]:.2f} limit {headline[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

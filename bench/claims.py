"""The model's answer vs one neuron, where the model was not trained: unseen questions and shifted images.

    python bench/claims.py [--model demo] [--probe-per-class 50] [--n-examples 600] [--seed 0] [--k 1]

Prints two markdown tables (docs/results.md, "Unseen questions and shifted images", is pasted from this output).

1. **Unseen-question tasks** (``bundled_task_names("unseen-question")``): a full search per task (``run_search``,
   MLP site, every layer) on its ``eval`` part. Per task: the base model's greedy generated answer (an answer
   outside the label set counts as wrong), the best neuron's held-out test accuracy, SAV and the linear probe, each
   test accuracy with its 95% Wilson interval, and the exact paired McNemar p-value of the neuron against the
   generated answer on the same test examples. The generated answer of a model asked a question it was never
   trained on often names something else (a colour, a number), which is wrong but says little about what the model
   knows; so the table adds the model's **constrained choice**: the label whose first token has the highest logit
   at the read position (the full model, no generation), and the neuron's p-value against it too.
2. **Shifted images** (``shifted_variant(task)`` of every trained task that has one): the neuron found on the
   original task, fitted (threshold / class means) on the original probe split, is scored unchanged on the
   shifted images of the same test examples (the shifted task has the same examples, labels and question, so the
   split is the same), beside the base model's generated answer, SAV and the linear probe (both fitted on the
   original probe split, like the neuron) on those images; and, for reference, the best neuron a search on the
   shifted task itself finds.

"beats" / "worse" when the paired McNemar p < 0.05 (the direction of the discordant pairs), else "n.s.".
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sn_core.search import baselines as bl  # noqa: E402
from sn_core.config import SearchConfig  # noqa: E402
from sn_core.data import bundled_spec, bundled_task_names, shifted_variant  # noqa: E402
from sn_core.models import load_model  # noqa: E402
from sn_core.data.answers import match_label  # noqa: E402
from sn_core.search.run import run_search  # noqa: E402

from sn_core.scoring.stats import mcnemar_exact, wilson_interval  # noqa: E402


def _s(summary, key):
    """A summary field, from the typed summary (attribute) or an older dict summary."""
    return summary[key] if isinstance(summary, dict) else getattr(summary, key)


def acc_ci(hits) -> str:
    r = acc_record(hits)
    return f"{r['accuracy']:.3f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"


def verdict(a_hits, b_hits) -> tuple[str, float]:
    """Paired exact McNemar of A against B on the same examples: beats / worse (p < 0.05) or n.s."""
    a_hits, b_hits = np.asarray(a_hits, bool), np.asarray(b_hits, bool)
    p = mcnemar_exact(a_hits, b_hits)
    if p >= 0.05:
        return "n.s.", p
    return ("beats" if np.sum(a_hits & ~b_hits) > np.sum(~a_hits & b_hits) else "worse"), p


def acc_record(hits) -> dict:
    """Accuracy, its 95% Wilson interval and n, for the JSON output."""
    hits = np.asarray(hits, bool)
    lo, hi = wilson_interval(int(hits.sum()), len(hits))
    return {"accuracy": float(hits.mean()), "ci_low": float(lo), "ci_high": float(hi), "n": int(len(hits))}


def fmt_p(v: str, p: float) -> str:
    return f"{v} (p={p:.2g})"


def test_rows(res):
    """(test positions in the result's example order, labels of those examples, label -> code)."""
    t = res._positions("test")
    return t, res.y[t], {lbl: i for i, lbl in enumerate(res.labels)}


def neuron_hits(fitted_on, nid: str, scored_on) -> np.ndarray:
    """The neuron ``nid`` fitted on ``fitted_on``'s probe split, scored unchanged on ``scored_on``'s test split."""
    clf = fitted_on.classifier([nid])
    t, y, _ = test_rows(scored_on)
    x = scored_on.neuron_values(nid).values[t][:, None]
    return clf.predict(x) == y


def generated_hits(res) -> np.ndarray:
    _, y, _ = test_rows(res)
    answers = res.baselines["base"]["answers"]
    return np.array([match_label(a, res.labels) == lbl for a, lbl in zip(answers, y)])


def constrained_hits(loaded, res, batch_size: int = 32) -> np.ndarray:
    """The model's choice among the labels: the label whose first token has the highest next-token logit at the
    read position (one full forward pass, no generation)."""
    import torch

    tok = loaded.processor.tokenizer
    first = [tok(" " + lbl, add_special_tokens=False)["input_ids"][0] for lbl in res.labels]
    if len(set(first)) < len(first):
        raise ValueError(f"labels {res.labels} share a first token; a constrained choice is not defined")
    task = res.task
    idx = res.example_index[res._positions("test")]
    exs = [task.examples[int(i)] for i in idx]
    prompts = [loaded.prompt(task.prompt_text(e.question)) for e in exs]
    from sn_core.data.images import as_rgb

    picks = []
    for s in range(0, len(exs), batch_size):
        batch = loaded.encode([as_rgb(e.image) for e in exs[s:s + batch_size]], prompts[s:s + batch_size])
        with loaded.lock, torch.inference_mode():
            logits = loaded.model(**batch).logits[:, -1, :]  # [batch, vocab]; left padding: last = read position
        picks.extend(logits[:, first].argmax(-1).tolist())
    return np.array([res.labels[i] for i in picks]) == np.array([e.label for e in exs])


def cross_baselines(loaded, orig, shifted) -> tuple[np.ndarray, np.ndarray]:
    """SAV (per-example hits) and the linear probe (accuracy), fitted on the original probe split, scored on the
    shifted test split."""
    p, t = orig._positions("probe"), shifted._positions("test")
    code = {lbl: i for i, lbl in enumerate(orig.labels)}
    yp = np.array([code[v] for v in orig.y[p]])
    yt = np.array([code[v] for v in shifted.y[t]])
    ao, as_ = orig.extraction.stack("attn"), shifted.extraction.stack("attn")
    sav = bl.sav_baseline(ao[:, p], yp, as_[:, t], yt, loaded.n_heads, len(code), layers=orig.extraction.layers)
    sav_hits = np.asarray(sav["test_predictions"]) == yt
    ro, rs = orig.extraction.stack("resid"), shifted.extraction.stack("resid")
    # (the layer is chosen on the original probe split, as in the original search; its test accuracy is the shifted one)
    lr = bl.linear_probe_baseline(ro[:, p], yp, rs[:, t], yt, layers=orig.extraction.layers, seed=orig.config.seed)
    return sav_hits, lr["test_accuracy"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="demo")
    p.add_argument("--probe-per-class", type=int, default=50)
    p.add_argument("--n-examples", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, default=1)
    p.add_argument("--unseen", nargs="*", default=None, help="unseen-question tasks (default: all)")
    p.add_argument("--shifted", nargs="*", default=None, help="trained tasks whose shifted variant to score "
                   "(default: every trained task that has one)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file (the About page "
                   "shows bench/results/claims-demo.json)")
    a = p.parse_args(argv)
    loaded = load_model(a.model)
    t0 = time.time()

    def search(task):
        return run_search(SearchConfig(model=a.model, task=task, n_examples=a.n_examples, k=a.k,
                                       probe_per_class=a.probe_per_class, sites=("mlp",), seed=a.seed),
                          loaded=loaded)

    print(f"model {loaded.model_id}, {loaded.n_layers} decoder layers; {a.n_examples} examples per task from the "
          f"eval part, probe {a.probe_per_class}/class, the rest test; MLP site, all layers; k {a.k}; seed {a.seed}. "
          "Test accuracy [95% Wilson interval]; p: exact paired McNemar on the test split.\n")

    unseen = bundled_task_names("unseen-question") if a.unseen is None else a.unseen
    print("### Unseen questions\n")
    print("| task (from) | example question | n probe / test | base: generated | outside label set | "
          "base: constrained choice | best SN (test) | SN probe / null probe | SN | SN vs generated | "
          "SN vs constrained | SAV (test) | linear probe (test) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    beats, records = [], {"unseen": [], "shifted": []}
    for name in unseen:
        res = search(name)
        s = res.summary
        nid = _s(s, "sn_neuron_id")
        sn = neuron_hits(res, nid, res) if a.k == 1 else None
        t, y, code = test_rows(res)
        if sn is None:
            raise SystemExit("--k > 1 is not supported here")
        gen = generated_hits(res)
        con = constrained_hits(loaded, res)
        sav = np.asarray(res.baselines["sav"]["test_predictions"]) == np.array([code[v] for v in y])
        v_gen, p_gen = verdict(sn, gen)
        v_con, p_con = verdict(sn, con)
        beats.append((name, v_gen, v_con))
        records["unseen"].append({
            "task": name, "from": bundled_spec(name).derived_from, "n_probe": int(_s(s, "n_probe")),
            "n_test": int(_s(s, "n_test")), "neuron_id": nid, "neuron": acc_record(sn), "generated": acc_record(gen),
            "constrained": acc_record(con), "sav": acc_record(sav), "vs_generated": [v_gen, float(p_gen)],
            "vs_constrained": [v_con, float(p_con)], "probe_score": float(_s(s, "sn_probe_accuracy")),
            "null_probe_score": float(_s(s, "null_probe_accuracy"))})
        outside = res.baselines["base"].get("outside_label_set")
        ex_q = res.task.examples[int(res.example_index[0])].question
        print(f"| `{name}` ({bundled_spec(name).derived_from}) | {ex_q} | {_s(s, 'n_probe')} / {_s(s, 'n_test')} | "
              f"{acc_ci(gen)} | {outside}/{len(gen)} | {acc_ci(con)} | **{acc_ci(sn)}** | "
              f"{_s(s, 'sn_probe_accuracy'):.3f} / {_s(s, 'null_probe_accuracy'):.3f} | `{nid}` | "
              f"{fmt_p(v_gen, p_gen)} | {fmt_p(v_con, p_con)} | {acc_ci(sav)} | "
              f"{_s(s, 'probe_lr_test_accuracy'):.3f} (layer {_s(s, 'probe_lr_layer')}) |", flush=True)
    n_gen = sum(v == "beats" for _, v, _ in beats)
    n_con = sum(v == "beats" for _, _, v in beats)
    print(f"\nThe best neuron beats the model's generated answer (p < 0.05) on {n_gen} of {len(beats)} unseen-question "
          f"tasks, and its constrained choice on {n_con} of {len(beats)}.\n", flush=True)

    originals = ([n for n in bundled_task_names("trained") if shifted_variant(n)] if a.shifted is None
                 else a.shifted)
    print("### Shifted images\n")
    print("| task -> shifted | n probe / test | SN (fitted on original) | SN on original test | SN on shifted test | "
          "base on original | base on shifted | SN vs base, shifted | SAV on original | SAV on shifted | "
          "linear probe on original | linear probe on shifted | best SN of a search on shifted |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in originals:
        sname = shifted_variant(name)
        ro, rs = search(name), search(sname)
        if not (np.array_equal(ro.split.test, rs.split.test) and np.array_equal(ro.example_index, rs.example_index)):
            raise SystemExit(f"{name} and {sname}: the splits differ; the shifted task must keep the labels")
        nid = _s(ro.summary, "sn_neuron_id")
        sn_o, sn_s = neuron_hits(ro, nid, ro), neuron_hits(ro, nid, rs)
        gen_o, gen_s = generated_hits(ro), generated_hits(rs)
        sav_s, lr_s = cross_baselines(loaded, ro, rs)
        _, yo, code = test_rows(ro)
        sav_o = np.asarray(ro.baselines["sav"]["test_predictions"]) == np.array([code[v] for v in yo])
        v, pv = verdict(sn_s, gen_s)
        records["shifted"].append({
            "task": name, "shifted": sname, "n_probe": int(_s(ro.summary, "n_probe")),
            "n_test": int(_s(ro.summary, "n_test")), "neuron_id": nid, "neuron_original": acc_record(sn_o),
            "neuron_shifted": acc_record(sn_s), "generated_original": acc_record(gen_o),
            "generated_shifted": acc_record(gen_s), "sav_shifted": acc_record(sav_s), "vs_generated": [v, float(pv)]})
        print(f"| `{name}` -> `{sname}` | {_s(ro.summary, 'n_probe')} / {_s(ro.summary, 'n_test')} | `{nid}` | "
              f"{acc_ci(sn_o)} | **{acc_ci(sn_s)}** | {acc_ci(gen_o)} | {acc_ci(gen_s)} | {fmt_p(v, pv)} | "
              f"{acc_ci(sav_o)} | {acc_ci(sav_s)} | {_s(ro.summary, 'probe_lr_test_accuracy'):.3f} | "
              f"{lr_s:.3f} | {_s(rs.summary, 'sn_test_accuracy'):.3f} (`{_s(rs.summary, 'sn_neuron_id')}`) |",
              flush=True)
    print(f"\n({time.time() - t0:.0f} s)")
    if a.json:
        settings = {"model": a.model, "n_examples": a.n_examples, "probe_per_class": a.probe_per_class,
                    "seed": a.seed, "k": a.k, "sites": ["mlp"], "layers": "all", "test": "exact paired McNemar",
                    "interval": "95% Wilson", "command": "python bench/claims.py " + " ".join(argv or sys.argv[1:])}
        a.json.write_text(json.dumps({"settings": settings, **records}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Compare: the Super Neuron against the base model's generated answer, SAV and a linear probe on the held-out
test split; the measured early-exit speedup; and robustness to a reworded prompt (the neuron chosen with the
original instruction, evaluated unchanged under another one). Every number comes from ``sn_core``: the summary of
the search, the engine's predictor and generator timings, and a second search with a different instruction."""
import pandas as pd
import streamlit as st

import sn_app
from sn_app.text import md
from sn_core.scoring.stats import interval_from_accuracy
from sn_core.search.uncertainty import with_intervals
from sn_core.store.cache import default_root
from sn_core.plots import search_figures as plots

st.title("📊 Compare")
res = sn_app.require_result()
s = res.summary
cfg = res.config
chance = s.chance

# ------------------------------------------------------------------------------------------------------ accuracy
st.subheader("Accuracy on the held-out test split")
k = int(s.k or 1)
front = res.frontier()
short = front[front["recommended"].astype(bool)]
rows = [
    (f"Super Neuron{'s' if k > 1 else ''} (overall best, top-{k}, layer {s.exit_layer})", s.sn_test_accuracy,
     s.sn_test_ci, "training-free: one threshold / class means per neuron"),
    ("Base model (generated answer)", s.base_accuracy, s.base_ci, "greedy answer matched to the label set"),
    ("SAV (top-20 attention heads)", s.sav_test_accuracy, interval_from_accuracy(s.sav_test_accuracy, s.n_test),
     "training-free: class-mean head vectors vote"),
    ("Linear probe" + (f" (layer {s.probe_lr_layer})" if s.probe_lr_layer is not None else ""),
     s.probe_lr_test_accuracy, interval_from_accuracy(s.probe_lr_test_accuracy, s.n_test),
     "logistic regression on the residual stream: trained, an upper reference"),
]
if len(short) and short["neuron_id"].iloc[0] not in list(res.top_k["neuron_id"][:k]):
    r = short.iloc[0]
    rows.insert(0, (f"Recommended shortcut ({r['neuron_id']}, layer {int(r['layer'])})", r["test_accuracy"],
                    (r["test_ci_low"], r["test_ci_high"]),
                    f"earliest exit not significantly below the best on the probe split; FLOP limit "
                    f"{r['flop_limit']:.1f}x"))
rows = [(m, a, "" if ci is None or a is None else f"{ci[0]:.3f}–{ci[1]:.3f}", w) for m, a, ci, w in rows]
table = pd.DataFrame(rows, columns=["method", "test_accuracy", "95% interval", "what it is"])
st.dataframe(table, hide_index=True, column_config={
    "test_accuracy": st.column_config.ProgressColumn("test accuracy", format="%.3f", min_value=0.0, max_value=1.0)})
shown = table.dropna(subset=["test_accuracy"])
if len(shown) < len(table):
    st.caption("Methods without a number were switched off for this search (or impossible, e.g. a truncated model). "
               "Re-run the search with baselines on to fill them in.")
if len(shown):
    st.plotly_chart(plots.accuracy_bars(shown, chance=chance), key="cmp_acc", alt="Test accuracy per method")
p_text = "; ".join(f"vs {name}: p = {p:.2g}" for name, p in (("the base model", s.p_sn_vs_base),
                                                              ("SAV", s.p_sn_vs_sav)) if p is not None)
st.caption(f"Test split: {s.n_test} examples, {s.n_classes} classes (chance {chance:.2f}). The null "
           f"control (best probe score with shuffled labels) is {s.null_probe_accuracy or float('nan'):.2f}. "
           "Intervals: 95% Wilson score intervals."
           + (f" The overall best neuron on the same test examples (exact paired McNemar test): {p_text}; "
              "p < 0.05 means a real difference, otherwise the two are not distinguishable on this split."
              if p_text else ""))

# ------------------------------------------------------------------------------------------------------- speed
st.subheader("Speed: full generation vs early exit")
st.caption("Measured here and now on this machine, on test-split images: the full model generating its answer "
           "vs the early-exit path up to the chosen classifier's layer. Median of the repeats after a warm-up.")
neurons = sn_app.choose_classifier(res, key="cmp_which")
c1, c2, c3 = st.columns(3)
n_img = int(c1.number_input("Images", 1, 256, 8, key="cmp_n"))
batch_sizes = c2.multiselect("Batch sizes", [1, 4, 8, 16, 32], default=[1, 8], key="cmp_bs")
repeats = int(c3.number_input("Repeats", 1, 9, 3, key="cmp_rep"))
if st.button("Measure speed", key="cmp_speed", type="primary"):
    from sn_core.shortcut.speed import measure_speed

    bar = sn_app.ProgressBar()
    with sn_app.guarded("Speed measurement", stop=False):
        sr = measure_speed(sn_app.get_model(cfg.model, cfg.device, cfg.dtype), res, neurons, n_img, batch_sizes,
                           repeats, progress=bar)
        if sr.speedup_batch1 is not None and len(neurons) == 1:
            sn_app.record_speed(res.key, sr.exit_layer, sr.speedup_batch1)
        st.session_state["cmp_speed_result"] = {"key": (res.key, tuple(neurons)), "rows": sr.rows,
                                                "flop": sr.flop_limit, "skipped": sr.skipped,
                                                "n_images": sr.n_images}
    bar.clear()

sp = st.session_state.get("cmp_speed_result")
if sp and sp["key"] == (res.key, tuple(neurons)):
    df = pd.DataFrame(sp["rows"])
    wide = df.pivot(index="batch_size", columns="path", values="ms_per_example")
    full_col = [c for c in wide.columns if c.startswith("full")][0]
    ee_col = [c for c in wide.columns if c.startswith("early")][0]
    wide["speedup (×)"] = wide[full_col] / wide[ee_col]
    st.dataframe(wide.reset_index(), hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="%.2f") for c in wide.columns})
    st.plotly_chart(plots.latency_bars(df), key="cmp_lat", alt="Latency per example, full vs early exit")
    if sp.get("skipped"):
        st.caption(f"Not timed: batch size(s) {', '.join(map(str, sp['skipped']))}, larger than the "
                   f"{sp.get('n_images')} image(s) measured (such a batch would hold fewer images than its label).")
    if sp.get("flop"):
        st.caption(f"Analytic FLOPs ratio (the speedup early exit could reach on this model): "
                   f"{float(sp['flop']):.1f}×. Measured ratios are lower when fixed costs (vision encoder, Python "
                   "overhead) dominate, as on a tiny model.")

# -------------------------------------------------------------------------------------------------- robustness
st.subheader("Robustness to a reworded prompt")
st.caption("The neuron is chosen, and its threshold fitted, with the original answer-format instruction. Here the "
           "same examples are asked with another instruction; the neuron is evaluated **unchanged** on the test "
           "split, beside a neuron re-chosen under the new instruction. (The demo model knows only its training "
           "words: unknown words become an unknown token, which is itself a rewording.)")
orig = res.task.instruction
new = st.text_input("Reworded instruction", "One word answer." if orig != "One word answer." else "", key="cmp_instr")
if st.button("Evaluate under the reworded prompt", key="cmp_robust"):
    from sn_core.reports.reworded import reworded_instruction

    bar = sn_app.ProgressBar()
    with sn_app.guarded("Reworded-prompt search", stop=False):
        rows = reworded_instruction(res, new, loaded=sn_app.get_model(cfg.model, cfg.device, cfg.dtype),
                                    root=str(default_root()), progress=bar)
        st.session_state["cmp_robust_result"] = {"key": res.key, "instruction": new, "rows": rows}
    bar.clear()
rb = st.session_state.get("cmp_robust_result")
if rb and rb["key"] == res.key:
    df = with_intervals(pd.DataFrame(rb["rows"]), s.n_test)  # 95% Wilson intervals on the same test split
    st.dataframe(df, hide_index=True, column_config={c: st.column_config.NumberColumn(format="%.3f")
                                                     for c in ("test_accuracy", "test_ci_low", "test_ci_high")})
    st.plotly_chart(plots.robustness_bars(df), key="cmp_rob", alt="Test accuracy under the original and reworded "
                                                                   "prompt")
    st.caption(f"Original instruction: “{md(orig)}”; reworded: “{md(rb['instruction'])}”.")

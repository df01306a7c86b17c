"""Neuron inspector: one neuron as a classifier. Per-class histograms of its value on the probe and test splits
with the fitted threshold (or class means), probe/test accuracy, the confusion matrix on the test split, the
examples that drive it highest and lowest, previous/next navigation, a shareable URL, and downloads (the neuron
as a classifier JSON artifact, its values as CSV)."""
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

import sn_app
from sn_app.text import code, md
from sn_core.plots import search_figures as plots
from sn_core.sites import neuron_id, parse_neuron_id
from sn_core.scoring.stats import accuracy_ci, interval_from_accuracy

st.title("🔬 Neuron inspector")
res = sn_app.require_result()
s = res.summary
top = sn_app.top_table_view(res.top_k)
ranked = [str(x) for x in top["neuron_id"]]

# ------------------------------------------------------------------------------------------------ which neuron
fallback = s.sn_neuron_id or ranked[0]
nid = st.session_state.get(sn_app.NEURON) or fallback
problem = res.neuron_problem(nid)
if problem:  # e.g. from a link or another page: say why, and show the Super Neuron instead of a dead end
    st.error(f"**Neuron id**: {md(problem)}. Showing the Super Neuron, {code(fallback)}, instead.")
    nid = fallback
    sn_app.select_neuron(nid)
kind, layer, index = parse_neuron_id(nid)

with st.container(border=True):
    c = st.columns([3, 1, 1, 1, 1])
    typed = c[0].text_input("Neuron id", nid, key=f"ni_id_{nid}",
                            help="e.g. blocks.3.mlp.hook_post[17]: site, layer and neuron index")
    if typed.strip() and typed.strip() != nid:
        problem = res.neuron_problem(typed.strip())
        if problem:
            st.error(f"**Neuron id**: {md(problem)}")  # the current neuron stays selected and shown below
        else:
            sn_app.select_neuron(typed.strip())
            st.rerun()
    in_rank = nid in ranked
    pos = ranked.index(nid) if in_rank else None
    width = res.scores(kind).shape[1]
    if c[1].button("◀ previous rank", key="ni_prev_rank", disabled=not in_rank or pos == 0):
        sn_app.select_neuron(ranked[pos - 1]); st.rerun()
    if c[2].button("next rank ▶", key="ni_next_rank", disabled=not in_rank or pos == len(ranked) - 1):
        sn_app.select_neuron(ranked[pos + 1]); st.rerun()
    if c[3].button("◀ index − 1", key="ni_prev_index", disabled=index == 0):
        sn_app.select_neuron(neuron_id(kind, layer, index - 1)); st.rerun()
    if c[4].button("index + 1 ▶", key="ni_next_index", disabled=index >= width - 1):
        sn_app.select_neuron(neuron_id(kind, layer, index + 1)); st.rerun()

# The URL of this view can be shared: it reopens this search and neuron (same store).
st.query_params["search"] = res.key
st.query_params["neuron"] = nid
st.session_state["_qp_search"], st.session_state["_qp_neuron"] = res.key, nid

# ------------------------------------------------------------------------------------------- values and fitting
with sn_app.guarded(f"Reading {nid}"):
    values, labels, split = res.neuron_values(nid)  # [n_examples] each
    params = res.neuron_params(nid)
    clf = res.classifier([nid])
values = np.asarray(values, dtype=float)
labels = np.asarray([str(v) for v in labels])
split = np.asarray([str(v) for v in split])
classes = [str(c) for c in res.labels]
is_probe, is_test = split == "probe", split == "test"
X_probe, X_test = values[is_probe, None], values[is_test, None]  # [n_probe, 1], [n_test, 1]
pred_test = np.asarray(clf.predict(X_test)).astype(str)  # [n_test]
probe_acc = float(clf.score(X_probe, labels[is_probe]))
test_acc = float(clf.score(X_test, labels[is_test]))
_, test_lo, test_hi = accuracy_ci(pred_test == labels[is_test])  # 95% Wilson interval of the test accuracy
base_ci = s.base_ci or interval_from_accuracy(s.base_accuracy, int(s.n_test or 0))
rank_txt = f"rank {pos + 1} of the top {len(ranked)}" if in_rank else "not in the top list"

st.subheader(code(nid))
st.caption(f"Layer {layer}, {md(kind)} site, neuron {index}; {rank_txt}. Rule: **{md(params.get('rule'))}**. "
           + md(plots.rule_caption(params)))
m = st.columns(4)
m[0].metric("Probe accuracy", f"{100 * probe_acc:.1f}%", help="On the split that fitted the rule and ranked it.")
m[1].metric("Test accuracy", f"{100 * test_acc:.1f}%", help=f"Held-out split: the honest number. 95% interval "
            f"{100 * test_lo:.1f}–{100 * test_hi:.1f}% ({int(is_test.sum())} test examples).")
m[2].metric("Base model (test)", "n/a" if s.base_accuracy is None else f"{100 * s.base_accuracy:.1f}%",
            help=None if not base_ci else f"95% interval {100 * base_ci[0]:.1f}–{100 * base_ci[1]:.1f}%.")
m[3].metric("Null control (probe)", "n/a" if s.null_probe_accuracy is None
            else f"{100 * s.null_probe_accuracy:.1f}%")
st.caption(f"Test accuracy {100 * test_acc:.1f}%, 95% interval {100 * test_lo:.1f}–{100 * test_hi:.1f}% on "
           f"{int(is_test.sum())} held-out examples (Wilson)"
           + (f"; base model {100 * base_ci[0]:.1f}–{100 * base_ci[1]:.1f}% on the same split." if base_ci else "."))

# ------------------------------------------------------------------------------------------------------- plots
fig = plots.class_histograms({"probe": (values[is_probe], labels[is_probe]), "test": (values[is_test],
                              labels[is_test])}, classes, **plots.rule_guides(params, classes),
                             title=f"Value of {plots.plain(nid)} at the last prompt token, by true class")
st.plotly_chart(fig, key="ni_hist", alt="Per-class histograms of the neuron's activation on probe and test")
st.caption("Each colour is one true class. " + md(plots.rule_caption(params)) + " Well separated colours on the "
           "**test** panel mean the neuron really carries the answer.")

c1, c2 = st.columns([2, 3])
c1.plotly_chart(plots.confusion_matrix(labels[is_test], pred_test, classes, title="Test split: true vs predicted"),
                key="ni_confusion", alt="Confusion matrix on the test split")

# ------------------------------------------------------------------------------------------- top / bottom images
with c2:
    st.markdown("**Examples that drive the neuron highest and lowest (test split)**")
    n_show = st.slider("Examples per row", 4, 12, 6, key="ni_n_examples")
    with sn_app.guarded("Loading examples", stop=False):
        from sn_core.data.images import load_image

        shown = {which: res.examples(nid, n=n_show, which=which, split="test") for which in ("top", "bottom")}
        questions = {ex.question for items in shown.values() for _, _, ex in items}
        if len(questions) == 1:
            st.caption(f"Question asked of every image: *{md(questions.pop())}* · caption: neuron value · true label, "
                       "✓ when the neuron's rule gets it right")
        for which, title in (("top", "Highest"), ("bottom", "Lowest")):
            st.caption(f"{title} activating")
            items = shown[which]
            cols = st.columns(max(len(items), 1))
            for col, (i, v, ex) in zip(cols, items):
                img = load_image(ex.image)
                ok = "✓" if str(clf.predict(np.array([[v]]))[0]) == ex.label else "✗"
                col.image(img.resize((96, 96), 0), caption=f"{v:.3g} · {md(ex.label)} {ok}", width=96)
                if len(questions) > 1:
                    col.caption(f"*{md(ex.question)}*")

# ----------------------------------------------------------------------------------------------------- downloads
st.subheader("Take it with you")
d = st.columns(3)
with sn_app.guarded("Preparing the classifier artifact", stop=False):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "neuron.json"
        clf.to_json(path, model_id=s.model_id, weights_hash=s.weights_hash, task=s.task,
                    search_key=res.key)
        blob = path.read_bytes()
    d[0].download_button("Classifier (JSON)", blob, file_name=f"super-neuron-{kind}-L{layer}-{index}.json",
                         mime="application/json", key="ni_dl_json",
                         help="Load it with sn_core.classifier.estimator.SuperNeuronClassifier.from_json or "
                              "`python -m sn_core predict --classifier ...`.")
csv = pd.DataFrame({"example": np.asarray(res.example_index), "split": split, "label": labels, "value": values})
d[1].download_button("This neuron's values (CSV)", csv.to_csv(index=False), file_name=f"values-{kind}-L{layer}-"
                     f"{index}.csv", mime="text/csv", key="ni_dl_values")
d[2].download_button("Top-neuron scores (CSV)", top.to_csv(index=False), file_name=f"scores-{res.key[:10]}.csv",
                     mime="text/csv", key="ni_dl_scores")
st.caption("Share this view: the page URL carries `?search=...&neuron=...` (it reopens from this machine's store).")

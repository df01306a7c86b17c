"""About: the Super Neuron method for teaching, with pictures. Diagrams are generated; the data pictures come from
a real search on the demo model (the current search when it is on the demo model, else a small one run on
request and cached in the store)."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

import sn_app
from sn_app.text import code, md
from sn_core.plots import search_figures as plots
from sn_core.store.cache import default_root
from sn_core.sites import parse_neuron_id

st.title("📖 About the method")
st.markdown(
    """
**Super Neurons** (arXiv [2603.10781](https://arxiv.org/abs/2603.10781)) are single scalar activations inside a
vision-language model that already *know the answer* to a categorical visual question (yes/no, which colour,
which digit) before the model has written a single word. Read at the **last prompt token**, the position
whose output produces the first answer token, one such number, compared with a threshold, classifies the
image as well as the whole model's generated answer, or nearly so.

Because the neuron sits in an early or middle layer, the model can **stop there**: run the vision encoder and
the first few decoder layers, read the neuron, apply the threshold. No later layers, no language-model head,
no decoding. That is a training-free **early-exit classifier**.
"""
)

st.subheader("The pipeline")
st.graphviz_chart(
    """
digraph G {
  rankdir=LR; bgcolor="transparent";
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, color="#555555", fillcolor="#ffffff"];
  edge [color="#555555"];
  img [label="image + question\\n(chat template)", fillcolor="#E3F0FA"];
  vis [label="vision encoder\\n+ projector"];
  l0 [label="decoder layer 0"];
  dots [label="…", shape=plaintext, style=""];
  lk [label="decoder layer L\\n(the Super Neuron)", fillcolor="#FDE9C7", color="#E69F00", penwidth=2];
  rest [label="layers L+1 … N-1\\nLM head, decoding", fillcolor="#eeeeee", fontcolor="#777777", style="rounded,dashed,filled"];
  ans [label="generated answer\\n(full model)", fillcolor="#eeeeee", fontcolor="#777777", style="rounded,dashed,filled"];
  thr [label="one number ≷ threshold\\n→ label", fillcolor="#D7F0E6", color="#009E73", penwidth=2];
  img -> vis -> l0 -> dots -> lk;
  lk -> rest [style=dashed, color="#999999"]; rest -> ans [style=dashed, color="#999999"];
  lk -> thr [label=" early exit", color="#009E73", penwidth=2, fontcolor="#009E73", fontname="Helvetica"];
}
"""
)
st.caption("Orange: the layer that holds the neuron. Green: the early exit. Grey, dashed: the work early exit skips.")

st.subheader("How a search works")
st.markdown(
    """
1. **Prompts.** Each example's question (plus an answer-format instruction such as *Answer with one word.*) is
   wrapped in the model's own chat template with the generation prompt, exactly as the model sees it before
   answering. Batches are padded on the left, so the read position is always the last column.
2. **Activations.** One forward pass per example records, at the read position, every scalar of the chosen
   **sites** in every chosen layer: the MLP's hidden units (`blocks.L.mlp.hook_post`, the default), the residual
   stream after the layer (`blocks.L.hook_resid_post`), or the attention heads' outputs (`blocks.L.attn.hook_z`).
   A neuron is named like `blocks.3.mlp.hook_post[17]`.
3. **One tiny classifier per neuron.** On the **probe split** (about 20 examples per class), each neuron gets a
   1-D rule: a *threshold* with a direction for two classes (a decision stump), or the *nearest class mean* for
   more classes. Statistics only, no gradient: every neuron of a layer is scored at once.
4. **Ranking.** Neurons are ranked by probe accuracy; the top one (or a vote of the top *k*) is the Super Neuron.
5. **Honest numbers.** Hundreds of thousands of neurons scored on a few dozen examples: the best probe score is
   optimistic by construction. Every accuracy reported as *accuracy* is therefore measured on a held-out **test
   split**, and the **null control**, the best probe score after shuffling the labels, shows what chance alone
   reaches.
"""
)

# -------------------------------------------------------------------------------------------- real data pictures
st.subheader("Seen on real data: the demo model")
res = None
with sn_app.guarded("Opening the search", stop=False):
    cur = sn_app.current_result()
    if cur is not None and cur.summary.model_id == "demo":
        res = cur
if res is None:
    res = st.session_state.get("_about_result_key") and sn_app.get_result(st.session_state["_about_result_key"],
                                                                      str(default_root()))
if not res:
    st.info("The pictures below are drawn from a search on the demo model. Run one on the **Search** page, or "
            "compute a small one here (shapes-color, 200 images; about a minute on a laptop CPU, cached after).")
    if st.button("Compute the pictures", key="about_compute"):
        from sn_core.config import SearchConfig
        from sn_core.search.run import run_search

        bar = sn_app.ProgressBar()
        r = None
        with sn_app.guarded("Demo search", stop=False):
            r = run_search(SearchConfig(model="demo", task="shapes-color", n_examples=200, baselines=False),
                           loaded=sn_app.get_model("demo"), progress=bar, root=str(default_root()))
            st.session_state["_about_result_key"] = r.key
        bar.clear()
        if r is not None:
            st.rerun()
else:
    s = res.summary
    options = ({f"recommended shortcut ({res.shortcut_neuron_id})": res.shortcut_neuron_id,
                f"overall best ({s.sn_neuron_id})": s.sn_neuron_id} if res.shortcut_neuron_id != s.sn_neuron_id
               else {f"overall best, also the recommended shortcut ({s.sn_neuron_id})": s.sn_neuron_id})
    nid = options[st.radio("Neuron", list(options), key="about_neuron", horizontal=True, format_func=md,
                           help="The page opens on the recommended shortcut; the overall best is one click away.")]
    st.info(res.shortcut_explanation())
    site = res.sites[0]
    scores = None  # stays None if the scores cannot be read (the error says so; the histogram is left out)
    with sn_app.guarded("Reading the scores", stop=False):
        scores = res.scores(site)  # [n_layers, width]
    st.markdown(f"Task **{md(s.task)}**, {s.n_classes} classes, {s.n_probe} probe and "
                f"{s.n_test} test images (search {code(sn_app.short_key(res.key))}).")
    c1, c2 = st.columns(2)
    with c1, sn_app.guarded("Score distribution", stop=False):
        if scores is not None:
            fig = plots.score_distribution(scores, chance=s.chance, step=1 / max(int(s.n_probe or 1), 1),
                                           title=f"Probe accuracy of all {scores.size:,} neurons")
            if s.null_probe_accuracy is not None:
                fig.add_vline(x=s.null_probe_accuracy, line=dict(color="#7f7f7f", dash="dot"),
                              annotation_text="null control", annotation_position="top left")
            st.plotly_chart(fig, key="about_dist", alt="Histogram of all neurons' probe accuracy (log scale)")
            finite = scores[np.isfinite(scores)]
            finite = finite if finite.size else np.array([np.nan])  # all NaN: the caption says nan, never raises
            null = s.null_probe_accuracy
            above = f"; {np.mean(finite > null):.0%} of them score above the null control" if null is not None else ""
            st.caption(f"Median neuron: {np.median(finite):.2f} probe accuracy against chance {s.chance:.2f}"
                       f"{above}; the best reach {np.max(finite):.2f}. The null control (dotted) is the best score any "
                       "neuron reaches when the probe labels are shuffled: a score below it means nothing. In a small "
                       "model trained on these very tasks many neurons carry some signal; a Super Neuron is one of the "
                       "few at the top that carries nearly all of it.")
    with c2, sn_app.guarded("The best neuron", stop=False):
        vals, labels, split = res.neuron_values(nid)
        vals, labels, split = np.asarray(vals, float), np.asarray(labels).astype(str), np.asarray(split).astype(str)
        params = res.neuron_params(nid)
        classes = [str(c) for c in res.labels]
        fig = plots.class_histograms({"test": (vals[split == "test"], labels[split == "test"])}, classes,
                                     **plots.rule_guides(params, classes), title=f"The neuron {plots.plain(nid)}")
        st.plotly_chart(fig, key="about_hist", alt="Histogram of the best neuron's value per class, test split")
        st.caption("Held-out images, coloured by their true class: the neuron's value alone separates them. "
                   + plots.rule_caption(params))
    with sn_app.guarded("Per-layer curve", stop=False):
        st.plotly_chart(plots.best_per_layer(res.layer_best(site), s.base_accuracy,
                                             s.null_probe_accuracy, s.chance,
                                             title="Where the classifying neurons appear, layer by layer"),
                        key="about_curve", alt="Best neuron per layer")
        st.caption("The earliest layer whose best neuron is good enough is where the model can exit.")

# ----------------------------------------------------------------------------------------------------- robustness
st.subheader("Does the neuron hold up?")
st.markdown(
    """
A neuron that classifies one test split well may still lean on the exact wording, or answer from the question
without looking at the image. The **Robustness** page scores the chosen neuron, fitted once and never refitted,
under reworded questions and instructions, shifted images (where the task has a variant) and **grounding
controls** that keep the question but blank, noise or shuffle the image, beside the base model on the same
inputs; a classifier that stays above chance without its image is flagged *answers from the question, not the
image*. Every accuracy carries a 95% interval, and the page's **probe-size curve** shows how many labelled
examples per class a task needs. The **Neuron atlas** shows which layers and neurons several tasks share.
"""
)
stored = (st.session_state.get(sn_app.ROBUSTNESS) or {}).get(res.key) if res else None
if stored:
    with sn_app.guarded("Robustness findings", stop=False):
        from sn_core.reports.robustness import RobustnessReport

        rep = RobustnessReport.from_json(stored["report"])
        rows = rep.rows[rep.rows["available"].astype(bool)]

        def acc(r, who="neuron"):
            return (f"{100 * r[f'{who}_accuracy']:.1f}% (95% CI {100 * r[f'{who}_ci_low']:.1f}–"
                    f"{100 * r[f'{who}_ci_high']:.1f}%)")

        lines = [f"Findings of the report run on this search ({md(rep.task)}, neuron {md(', '.join(rep.neuron_ids))}, "
                 f"{rep.n_test} test examples, chance {100 * rep.chance:.1f}%):"]
        for r in rows.to_dict(orient="records"):
            if r["kind"] in ("original", "shifted", "control"):
                base = f"; base model {acc(r, 'base')}" if r["base_accuracy"] == r["base_accuracy"] else ""
                lines.append(f"- {md(r['condition'])}: neuron {acc(r)}{base}")
        reworded = rows[rows["kind"] == "rewording"]["neuron_accuracy"].astype(float)
        if len(reworded):
            lines.append(f"- {len(reworded)} rewording(s): neuron accuracy from {100 * reworded.min():.1f}% to "
                         f"{100 * reworded.max():.1f}%")
        lines.append("- flagged: " + (md("; ".join(rep.flags)) if rep.flags else "no grounding control"))
        st.markdown("\n".join(lines))
else:
    st.page_link(sn_app.PAGES["robustness"], label="Run the robustness report on the Robustness page",
                 icon="🛡️")

# ------------------------------------------------------------------------------------------------- measured claims
st.subheader("Does one neuron know more than the model says?")
st.markdown(
    """
The demo model answers the questions it was trained on almost perfectly, so there a neuron can at best match it.
The test is elsewhere: **questions it was never trained to answer** about what it was trained to see ("Is the
shape red?"), and **trained questions on shifted images** (another background, rotated and noisy digits). Below,
the best neuron's held-out accuracy beside the model's own generated answer on the same test examples, each with
its 95% interval, and an exact paired McNemar test between them.
"""
)
with sn_app.guarded("Measured claims", stop=False):
    from sn_core import claims_table, plots_claims

    claims = claims_table.load_claims()
    cfg = claims["settings"]
    unseen, shifted = claims_table.unseen_frame(claims), claims_table.shifted_frame(claims)
    n_beats, n_unseen = claims_table.beats_count(unseen)
    st.markdown(f"On **{n_beats} of {n_unseen}** unseen questions the neuron beats the model's generated answer "
                "(p < 0.05).")
    st.plotly_chart(plots_claims.robustness_conditions(
        unseen, chance=0.5, title="Unseen questions: one neuron vs the model's generated answer"),
        key="about_claims_unseen", alt="Unseen-question tasks: neuron and generated-answer accuracy")
    st.dataframe(unseen[["condition", "from", "neuron_id", "neuron_accuracy", "base_accuracy", "constrained_accuracy",
                         "neuron_vs_generated", "neuron_vs_constrained"]].rename(columns={
        "condition": "task", "from": "derived from", "neuron_id": "neuron", "neuron_accuracy": "neuron (test)",
        "base_accuracy": "generated answer", "constrained_accuracy": "model's yes/no logit choice",
        "neuron_vs_generated": "neuron vs generated", "neuron_vs_constrained": "neuron vs logit choice"}).round(3),
        hide_index=True, key="about_claims_unseen_table")
    st.plotly_chart(plots_claims.robustness_conditions(
        shifted, title="Shifted images: the neuron found on the original task vs the model's answer"),
        key="about_claims_shifted", alt="Shifted-image tasks: neuron and generated-answer accuracy")
    st.dataframe(shifted[["condition", "neuron_id", "neuron_original", "neuron_accuracy", "base_original",
                          "base_accuracy", "neuron_vs_generated"]].rename(columns={
        "condition": "shifted task", "neuron_id": "neuron (found on the original)",
        "neuron_original": "neuron, original images", "neuron_accuracy": "neuron, shifted images",
        "base_original": "model, original images", "base_accuracy": "model, shifted images",
        "neuron_vs_generated": "neuron vs model, shifted"}).round(3),
        hide_index=True, key="about_claims_shifted_table")
    st.caption(f"Measured on the {cfg.get('model')} model by `{cfg.get('command')}`: {cfg.get('n_examples')} examples "
               f"per task, {cfg.get('probe_per_class')} probe examples per class, split seed {cfg.get('seed')}, MLP "
               "site at every layer, the top neuron alone. Tables with SAV and the linear probe: docs/results.md.")

# ----------------------------------------------------------------------------------------------------- early exit
st.subheader("Why early exit is faster")
n_layers, exit_layer = 16, 3  # the demo model's depth and a first-quarter exit, until a search gives real numbers
if res:
    exit_layer = int(parse_neuron_id(nid)[1])
    n_layers = max(res.layers) + 1
    with sn_app.guarded("Reading the model's depth", stop=False):
        n_layers = int(sn_app.get_model(res.config.model, res.config.device, res.config.dtype).n_layers_total)
fig = go.Figure()
fig.add_trace(go.Bar(y=["full model"], x=[n_layers], orientation="h", name="decoder layers run",
                     marker_color=plots.PALETTE[0], text=[f"{n_layers} layers + LM head, once per answer token"],
                     textposition="inside"))
fig.add_trace(go.Bar(y=["early exit"], x=[exit_layer + 1], orientation="h", name="layers run by early exit",
                     marker_color=plots.PALETTE[2],
                     text=[f"{exit_layer + 1} layer{'s' if exit_layer else ''}, one pass"],
                     textposition="inside"))
fig.update_xaxes(title="decoder layers executed", range=[0, n_layers + 0.5], dtick=1)
fig.update_layout(height=220, showlegend=False, template="plotly_white", margin=dict(l=90, r=20, t=20, b=40))
st.plotly_chart(fig, key="about_layers", alt="Decoder layers run by the full model and by early exit")
st.markdown(
    """
The full model runs all layers for the prompt and then once more for every generated token, through the
vocabulary-sized LM head. Early exit runs the vision encoder and the decoder **up to the neuron's layer**, once,
and compares one number with a threshold. The **Compare** page measures both on this machine; on a tiny model
fixed costs (the vision encoder, Python) limit the gain, on a 7B model the layers dominate.

**Further reading:** the method specification shipped with the project (`docs/`), the paper
(arXiv 2603.10781), SAVs (Mitra et al., sparse attention vectors) for the attention-head baseline.
"""
)

"""Layer map: where in the network the classifying neurons are. A layer x neuron heatmap of probe scores (wide
layers binned to the best neuron per bin, with a drill-down into one layer), the best neuron per layer against
the base model and the null control, and a sortable table of the top neurons. Selecting a neuron (table row, plot
click, or the inputs) opens it in the inspector."""
import numpy as np
import streamlit as st

import sn_app
from sn_app.text import code, md
from sn_core.plots import search_figures as plots
from sn_core.scoring.ranking import LAYER_TOP
from sn_core.sites import neuron_id
from sn_core.search.uncertainty import with_intervals

st.title("🗺️ Layer map")
res = sn_app.require_result()
s = res.summary
st.caption(f"Search {code(sn_app.short_key(res.key))}: **{md(s.task)}** on {code(s.model_id)}, "
           f"{s.n_probe} probe / {s.n_test} test examples. Scores are **probe** accuracies of each "
           f"neuron's own 1-D rule ({s.rule}); chance is {s.chance:.2f}.")

sites = list(res.sites)
site = st.radio("Site", sites, horizontal=True, key="lm_site") if len(sites) > 1 else sites[0]
layers = list(res.layers)
with sn_app.guarded("Reading the scores"):
    scores = res.scores(site)  # [n_layers, width]
chance = s.chance
width = scores.shape[1]

# ---------------------------------------------------------------------------------------------------- frontier
st.subheader("Where to exit: accuracy against speed")
with sn_app.guarded("Exit-layer frontier", stop=False):
    front = res.frontier()
    st.info(res.shortcut_explanation())

    def on_frontier_click():
        """A clicked point selects its neuron (for the inspector and the playground)."""
        points = (st.session_state.get("lm_frontier") or {}).get("selection", {}).get("points") or []
        data = points[0].get("customdata") if points else None
        if data:
            sn_app.select_neuron(str(data[0]))
            st.session_state["lm_layer"] = int(data[1])

    st.plotly_chart(plots.frontier_chart(front, sn_app.measured_speeds(res.key), s.base_accuracy, chance),
                    key="lm_frontier", on_select=on_frontier_click, selection_mode="points",
                    alt="Test accuracy of the best neuron up to each exit layer against the FLOP limit of its exit")
    st.caption("One point per exit: the best neuron (by probe score) among layers up to it, its held-out test "
               "accuracy with a 95% interval, at the FLOP limit of exiting after its layer. The ringed point is the "
               "recommended shortcut, chosen on the probe split only. Crosses: speed-ups measured on this server "
               "(playground, Compare). Click a point to select its neuron.")
    with st.expander("Frontier table"):
        st.dataframe(front, hide_index=True, key="lm_frontier_table",
                     column_config={c: st.column_config.NumberColumn(format="%.3f") for c in
                                    ("probe_score", "probe_accuracy", "test_accuracy", "test_ci_low", "test_ci_high",
                                     "p_vs_best")} | {"flop_limit": st.column_config.NumberColumn(format="%.1fx")})
    b1, b2 = st.columns(2)
    if b1.button(f"Try the shortcut {md(res.shortcut_neuron_id)} in the playground", key="lm_try_shortcut",
                 type="primary"):
        sn_app.select_neuron(res.shortcut_neuron_id)
        sn_app.go("playground")
    if b2.button(f"Inspect the overall best {md(s.sn_neuron_id)}", key="lm_inspect_best"):
        sn_app.select_neuron(s.sn_neuron_id)
        sn_app.go("inspector")

# ------------------------------------------------------------------------------------------------------ heatmap
st.subheader("Every neuron's probe score")
max_bins = st.select_slider("Heatmap columns (neurons are binned beyond this; each cell shows its bin's best)",
                            [32, 64, 128, 256, 512, 1024], value=128 if width > 128 else 1024, key="lm_bins")
fig = plots.layer_heatmap(scores, layers, site, max_bins=max_bins, chance=chance)
binned = width > max_bins


def on_heatmap_click():
    """A clicked cell opens its layer below (and, when neurons are not binned, selects that neuron). Runs only when
    the selection changes, so the layer box stays free to use afterwards."""
    points = (st.session_state.get("lm_heatmap") or {}).get("selection", {}).get("points") or []
    if not points or points[0].get("y") is None:
        return
    layer_clicked = int(points[0]["y"])
    if layer_clicked in layers:
        st.session_state["lm_layer"] = layer_clicked
        if not binned and points[0].get("x") is not None:
            sn_app.select_neuron(neuron_id(site, layer_clicked, int(points[0]["x"])))
            st.session_state[f"lm_index_{site}_{layer_clicked}"] = int(points[0]["x"])


st.plotly_chart(fig, key="lm_heatmap", on_select=on_heatmap_click, selection_mode="points",
                alt=f"Heatmap of probe accuracy, {len(layers)} layers by {width} neurons")
st.caption("Bright cells hold neurons that separate the classes well on the probe split. Click a cell to "
           "drill into its layer (and, when neurons are not binned, to select the neuron).")

# ---------------------------------------------------------------------------------------------------- drill-down
st.subheader("One layer in detail")
c1, c2 = st.columns([1, 3])
filled = np.where(np.isnan(scores), -np.inf, scores)  # NaN scores rank lowest (an all-NaN row cannot break argmax)
# The best neuron of each layer as the search ranked it (ties broken by separation, as in every table and curve);
# the plain argmax only stands in if the per-layer table cannot be read.
ranked_best: dict[int, int] = {}
with sn_app.guarded("Per-layer ranking", stop=False):
    ranked_best = {int(r["layer"]): int(r["index"]) for r in res.layer_best(site).to_dict(orient="records")}
default_layer = (int(s.sn_layer) if s.sn_site == site and s.sn_layer in layers
                 else layers[int(np.argmax(filled.max(axis=1)))])  # open on the Super Neuron's layer
if "lm_layer" not in st.session_state or st.session_state["lm_layer"] not in layers:
    st.session_state["lm_layer"] = default_layer
layer = c1.selectbox("Layer", layers, key="lm_layer")
row = scores[layers.index(layer)]  # [width]
best_idx = ranked_best.get(layer, int(np.argmax(filled[layers.index(layer)])))
index_key = f"lm_index_{site}_{layer}"
if index_key not in st.session_state:
    st.session_state[index_key] = best_idx
index = int(c1.number_input("Neuron index", 0, width - 1, key=index_key))
c1.caption(f"Best in layer {layer}: neuron {best_idx} ({row[best_idx]:.3f}).")
if c1.button("Inspect this neuron", key="lm_open", type="primary"):
    sn_app.select_neuron(neuron_id(site, layer, index))
    sn_app.go("inspector")
c2.plotly_chart(plots.layer_profile(row, layer, site, highlight=index, chance=chance), key="lm_profile",
                alt=f"Probe accuracy of each neuron in layer {layer}")

# ---------------------------------------------------------------------------------------------- per-layer curve
st.subheader("Best neuron per layer")
with sn_app.guarded("Per-layer table", stop=False):
    lb = with_intervals(res.layer_best(site), int(s.n_test or 0))  # + 95% interval of each test accuracy
    st.plotly_chart(plots.best_per_layer(lb, s.base_accuracy, s.null_probe_accuracy, chance),
                    key="lm_curve", alt="Best probe score and its test accuracy per layer")
    st.caption("Blue: the best probe score in each layer (optimistic: chosen on that split). Green: the same "
               "neuron's accuracy on the held-out test split, with its 95% interval. Reference lines: the full "
               "model's generated answer (test split), the null control (best probe score after shuffling labels) "
               "and chance.")
with st.expander(f"Top {LAYER_TOP} neurons of each layer"), sn_app.guarded("Per-layer ranking", stop=False):
    per_layer = res.layer_top(site, min(LAYER_TOP, width))  # [n_layers * k rows], ranked within each layer
    per_layer = with_intervals(per_layer, int(s.n_test or 0))  # + test_ci_low / test_ci_high (Wilson, 95%)
    st.dataframe(per_layer, hide_index=True, key="lm_layer_top", height=320,
                 column_config={**sn_app.top_table_config(),
                                "rank": st.column_config.NumberColumn("rank in layer", width="small")})
    st.caption("Ranked by probe score within each layer, ties broken by separation, as the global table below "
               "ranks all neurons; test accuracy is each neuron's own rule on the held-out split, with its 95% "
               "interval.")

# ------------------------------------------------------------------------------------------------------ top table
st.subheader("Top neurons")
top = with_intervals(sn_app.top_table_view(res.top_k), int(s.n_test or 0))
if len(sites) > 1 and "site" in top and st.checkbox("Only this site", False, key="lm_only_site"):
    top = top[top["site"] == site].reset_index(drop=True)
st.caption("Click a column header to sort; select a row, then press the Inspect button below it to open the "
           "neuron in the inspector.")
ev = st.dataframe(top, hide_index=True, on_select="rerun", selection_mode="single-row", key="lm_top",
                  column_config=sn_app.top_table_config(), height=320)
picked = ev.selection.rows if ev is not None else []
if picked:
    nid = str(top.iloc[picked[0]]["neuron_id"])
    sn_app.select_neuron(nid)
    if st.button(f"Inspect {md(nid)}", key="lm_open_row", type="primary"):
        sn_app.go("inspector")

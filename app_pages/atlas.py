"""Neuron atlas: from the stored searches of one model, which neurons serve which tasks: the top neurons of every
task, the layers where tasks find neurons above their null control (a task x layer heatmap), layers and neurons that
several tasks share; a neuron opens in the inspector. The tables come from ``sn_core.reports.atlas.build_atlas``."""
import streamlit as st

import sn_app
from sn_app.text import code, md
from sn_core.plots import report_figures as plots_claims
from sn_core.reports.atlas import ATLAS_TOP, atlas_models, build_atlas
from sn_core.store.cache import default_root

st.title("🧭 Neuron atlas")
st.caption("Which neurons serve which tasks: the open search for its task and the newest stored search of every "
           "other task on one model, read from the "
           "store (nothing is recomputed). Run searches of several tasks on the same model on the **Search** page "
           "to fill it; searches over the same layers and sites compare best.")


@st.cache_data(show_spinner="Reading the stored searches…", ttl=60, max_entries=8)
def cached_atlas(listing: tuple, model_id: str, top_n: int, root: str, prefer: str | None):
    """``build_atlas`` of the listed searches ``(key, task, created, model_id)``, cached briefly per listing; the
    open search (``prefer``) stands for its task."""
    rows = [{"key": k, "task": t, "created": c, "model_id": m} for k, t, c, m in listing]
    return build_atlas(rows, model_id=model_id, root=root, top_n=top_n, prefer=prefer)


root = str(default_root())
rows, skipped = [], []
with sn_app.guarded("Listing the stored searches", stop=False):
    rows = sn_app.visible_searches(sn_app.get_search_list(root), skipped)
if skipped:
    st.warning(f"Skipped {len(skipped)} stored search(es) that cannot be listed: {md('; '.join(skipped))}.")
models = atlas_models(rows)
if not models:
    st.info("No stored searches yet. Run searches of one model on several tasks on the **Search** page.", icon="ℹ️")
    st.page_link(sn_app.PAGES["search"], label="Go to Search", icon="🔎")
    st.stop()

current = None
with sn_app.guarded("Opening the current search", stop=False):
    current = sn_app.current_result()
names = list(models)
c1, c2 = st.columns([2, 1])
start = names.index(current.summary.model_id) if current is not None and current.summary.model_id in names else 0
model = c1.selectbox("Model", names, index=start, key="at_model",
                     format_func=lambda m: f"{m} ({models[m]} task{'s' if models[m] != 1 else ''})")
top_n = int(c2.number_input("Top neurons per task", 1, 50, ATLAS_TOP, key="at_top_n"))

listing = tuple((str(r["key"]), str(r.get("task")), str(r.get("created") or ""), str(r.get("model_id")))
                for r in rows if str(r.get("model_id")) == model)
atlas = None
with sn_app.guarded("Building the atlas"):
    atlas = cached_atlas(listing, model, top_n, root, current.key if current is not None else None)
if atlas.skipped:
    st.warning(f"Skipped {len(atlas.skipped)} search(es) that cannot be opened: "
               + md("; ".join(f"{sn_app.short_key(k)} ({sn_app.hide_paths(why)})" for k, why in atlas.skipped)) + ".")
if atlas.searches.empty:
    st.info(f"None of the stored searches of {code(model)} can be opened: re-run them on the **Search** page.")
    st.stop()


def label(task) -> str:
    return sn_app.hide_paths(str(task))


searches = atlas.searches.assign(task=atlas.searches["task"].map(label),
                                 key=atlas.searches["key"].map(sn_app.short_key))
shared_layers = atlas.shared_layers
n_shared_top = int((shared_layers["n_tasks_in_top"] >= 2).sum()) if len(shared_layers) else 0
n_shared_null = int((shared_layers["n_tasks_above_null"] >= 2).sum()) if len(shared_layers) else 0
m = st.columns(4)
m[0].metric("Tasks", len(searches))
m[1].metric("Neurons in 2+ top lists", len(atlas.shared_neurons),
            help=f"Neurons among the top {top_n} of two or more tasks.")
m[2].metric("Layers shared by top neurons", n_shared_top,
            help=f"Layers holding a top-{top_n} neuron of two or more tasks.")
m[3].metric("Layers shared (above null)", n_shared_null,
            help="Layers where two or more tasks have a neuron scoring above their null control.")

if len(searches) == 1:
    st.info(f"Only one task has a stored search on {code(model)}: run searches of other tasks on the same model to see "
            "which neurons and layers they share.", icon="ℹ️")
st.subheader("Tasks")
searches = searches[["task", "sn_neuron_id", "sn_test_accuracy", "sn_test_ci_low", "sn_test_ci_high", "base_accuracy",
                     "null_probe_accuracy", "neurons_above_null", "n_probe", "n_test", "instruction", "sites",
                     "layers", "key", "created"]]
st.dataframe(searches, hide_index=True, key="at_searches", column_config={
    "sn_neuron_id": st.column_config.TextColumn("Super Neuron"),
    "sn_test_accuracy": st.column_config.NumberColumn("test accuracy", format="%.3f"),
    "sn_test_ci_low": st.column_config.NumberColumn("95% CI low", format="%.3f"),
    "sn_test_ci_high": st.column_config.NumberColumn("95% CI high", format="%.3f"),
    "base_accuracy": st.column_config.NumberColumn("base model", format="%.3f"),
    "null_probe_accuracy": st.column_config.NumberColumn("null control", format="%.3f"),
    "neurons_above_null": st.column_config.NumberColumn("neurons above null"),
    "created": st.column_config.TextColumn("created (UTC)")})

# ------------------------------------------------------------------------------------------------------- layers
st.subheader("Where the tasks find neurons")
sites = atlas.sites
site = st.radio("Site", sites, horizontal=True, key="at_site") if len(sites) > 1 else sites[0]
mat = atlas.heatmap(site)
mat.index = [label(t) for t in mat.index]
st.plotly_chart(plots_claims.atlas_heatmap(mat, site), key="at_heatmap",
                alt="Heatmap of neurons above the null control per task and layer")
st.caption("Each cell: how many neurons of that layer score above the task's null control on its probe split (the "
           "best score any neuron reached with shuffled labels). Empty cells: layers that task did not search. "
           "Tasks with more classes or larger probe splits have stricter null controls, so compare rows by shape "
           "rather than by size.")
with st.expander("Layers searched by two or more tasks", expanded=bool(len(shared_layers))):
    if shared_layers.empty:
        st.caption("No layer was searched by two or more tasks.")
    else:
        st.dataframe(shared_layers[shared_layers["site"] == site], hide_index=True, key="at_shared_layers",
                     column_config={"n_tasks_searched": st.column_config.NumberColumn("tasks searched"),
                                    "n_tasks_above_null": st.column_config.NumberColumn("tasks above null"),
                                    "n_tasks_in_top": st.column_config.NumberColumn("tasks with a top neuron"),
                                    "tasks_in_top": st.column_config.TextColumn("those tasks"),
                                    "n_above_null_total": st.column_config.NumberColumn("neurons above null (sum)")})


def inspect(key: str, nid: str) -> None:
    """Open ``nid`` of the search ``key`` in the inspector."""
    sn_app.set_search(key)
    sn_app.select_neuron(nid)
    sn_app.go("inspector")


# ------------------------------------------------------------------------------------------------ shared neurons
st.subheader("Neurons several tasks share")
shared = atlas.shared_neurons
if shared.empty:
    st.caption(f"No neuron is among the top {top_n} of two or more tasks.")
else:
    shown = shared.drop(columns=["keys"]).assign(tasks=shared["tasks"].map(
        lambda v: ", ".join(label(t) for t in str(v).split(", "))))
    ev = st.dataframe(shown, hide_index=True, key="at_shared", on_select="rerun", selection_mode="single-row")
    picked = ev.selection.rows if ev is not None else []
    if picked:
        row = shared.iloc[picked[0]]
        tasks = dict(zip(atlas.searches["key"], atlas.searches["task"]))
        cols = st.columns(max(len(row["keys"]), 1))
        for i, (col, key) in enumerate(zip(cols, row["keys"])):
            if col.button(f"Inspect {md(row['neuron_id'])} in {md(label(tasks.get(key, key)))}", key=f"at_shared_open_{i}"):
                inspect(key, str(row["neuron_id"]))

# ---------------------------------------------------------------------------------------------------- top lists
st.subheader(f"Top {top_n} neurons of every task")
top = atlas.top.assign(task=atlas.top["task"].map(label), key=atlas.top["key"].map(sn_app.short_key))
st.caption("Ranked within each task by probe score (ties broken by separation), as its search ranked them; test "
           "accuracy on that task's held-out split with a 95% interval. Select a row, then press Inspect.")
ev = st.dataframe(top, hide_index=True, key="at_top", on_select="rerun", selection_mode="single-row", height=360,
                  column_config={**sn_app.top_table_config(),
                                 "test_ci_low": st.column_config.NumberColumn("95% CI low", format="%.3f"),
                                 "test_ci_high": st.column_config.NumberColumn("95% CI high", format="%.3f")})
picked = ev.selection.rows if ev is not None else []
if picked:
    row = atlas.top.iloc[picked[0]]
    if st.button(f"Inspect {md(row['neuron_id'])} ({md(label(row['task']))})", key="at_open", type="primary"):
        inspect(str(row["key"]), str(row["neuron_id"]))

"""Search page: choose a model, a task and the search settings, run the search (with a progress bar), and reopen
previous searches. The search itself is ``sn_core.search.run.run_search``; its results are cached in the store, so the
same settings come back instantly."""
import pandas as pd
import streamlit as st

import sn_app
from sn_app.text import code, md
from sn_core.config import METRICS, RULES, SearchConfig
from sn_core.data.server_paths import ALLOWED_ROOTS_ENV
from sn_core.data.uploads import find_task_source
from sn_core.scoring.stats import interval_from_accuracy
from sn_core.store.cache import default_root
from sn_core.search.uncertainty import with_intervals

DEFAULTS = SearchConfig()  # the one source of search defaults

st.title("🔎 Search for Super Neurons")
st.caption(
    "A **Super Neuron** is one scalar activation of the language model, read at the last prompt token, that "
    "answers a categorical visual question on its own by a threshold (two classes) or the nearest class mean "
    "(more classes). The search fits that 1-D rule for every neuron on a small **probe** split, ranks the "
    "neurons, and reports accuracy on a held-out **test** split."
)

tab_new, tab_prev = st.tabs(["New search", "Previous searches"])

# --------------------------------------------------------------------------------------------------- new search
def new_search() -> None:
    """The "New search" tab. It returns early (never ``st.stop()``) where input is missing or wrong, so the
    previous searches and the current search below are still drawn."""
    model = _choose_model()
    if model is None:
        return
    model_spec, loaded = model
    task = _choose_task()
    if task is None:
        return
    settings = _search_settings(loaded)
    st.caption("Stay on this page while a search runs: leaving it or clicking elsewhere stops the run, and running "
               "the same search again resumes from the activations already stored.")
    if st.button("Run search", type="primary", key="run_search"):
        _run_search(model_spec, loaded, task, settings)


def _choose_model():
    """Step 1: the model source and the loaded model, as ``(model_spec, loaded)``; None where input is missing or
    the model cannot be loaded (the reason is shown)."""
    st.subheader("1 · Model")
    mode = st.radio("Model source", ["demo", "local folder or cached hub id"], horizontal=True, key="model_mode",
                    persist_state="session",
                    help="The demo is a small LLaVA-style model shipped with the app. Other models must already be "
                         "on this machine: nothing is downloaded.")
    if mode == "demo":
        typed = model_spec = "demo"
    else:
        typed = st.text_input("Model folder (Hugging Face format) or hub id in the local cache",
                              key="model_path", persist_state="session",
                              placeholder="/models/llava-1.5-7b-hf").strip()
        if not typed:
            st.info("Type a model folder or hub id, or choose the demo model.")
            return None
        model_spec = None
        with sn_app.guarded("Model", stop=False):  # a folder on the server follows the server-path rule
            model_spec = sn_app.model_source(typed)
        if model_spec is None:
            return None
    loaded = None
    with sn_app.guarded(f"Loading model {typed!r}", stop=False):
        loaded = sn_app.get_model(model_spec)
    if loaded is None:
        return None
    st.session_state[sn_app.MODEL] = model_spec
    widths = ", ".join(f"{k} {v}" for k, v in loaded.widths.items())
    st.caption(f"{code(loaded.model_id)}: {loaded.n_layers} decoder layers; neurons per layer by site: {widths}.")
    return model_spec, loaded


def _choose_task():
    """Step 2: the task, as ``(task_arg, question, n_examples)``; None where input is missing or wrong."""
    st.subheader("2 · Task")
    source = st.radio("Task source", ["bundled", "upload", "local path", "benchmark or dataset folder"],
                      horizontal=True, key="task_source",
                      persist_state="session",
                      help="Bundled tasks are generated images. Uploads: a JSONL/CSV manifest (fields image, "
                           "question, label) together with its images, or one ZIP holding a manifest and images or "
                           "one subfolder of images per class. Benchmark or dataset folder: POPE, CLEVR, "
                           "A-OKVQA, ScienceQA, VizWiz, InstaOrder or a Hugging Face dataset on this server.")
    if source == "bundled":
        return _bundled_task()
    if source == "upload":
        return _uploaded_task()
    if source == "benchmark or dataset folder":
        return sn_app.benchmark_task()
    return _server_path_task()


def _bundled_task():
    from sn_core.data import bundled_spec, bundled_task_names

    names = bundled_task_names()
    name = st.selectbox("Bundled task", names, index=names.index("shapes-color") if "shapes-color" in names
                        else 0, key="task_name", persist_state="session")
    spec = bundled_spec(name)
    st.caption(f"{spec.description}  Question: *{spec.question}*  Labels: {', '.join(spec.labels)}")
    n_examples = int(st.number_input("Examples to generate", 20, 20000, DEFAULTS.n_examples, step=50, key="n_examples",
                                     persist_state="session",
                                     help="Images generated for this search (never the demo model's "
                                          "training images)."))
    return name, None, n_examples


def _uploaded_task():
    files = st.file_uploader("Manifest with its images, or one ZIP", accept_multiple_files=True,
                             type=["jsonl", "ndjson", "csv", "zip", "png", "jpg", "jpeg", "bmp", "gif", "webp"],
                             key="task_upload")
    question = st.text_input("Question (only for a folder of class subfolders)", key="upload_question",
                             persist_state="session",
                             placeholder="What is in the image?").strip() or None
    if not files:
        st.info("Upload a task to continue, or choose a bundled task.")
        return None
    task_arg = None
    with sn_app.guarded("Reading the upload", stop=False):
        folder = sn_app.save_upload(files)
        kind, found = find_task_source(folder)
        if kind == "folder" and not question:
            raise ValueError("this upload is a folder of class subfolders: type the question to ask")
        # read it now (rows, labels, image paths; no image is decoded), so a bad manifest shows here, not at Run
        from sn_core.data import load_image_folder, load_manifest

        if kind == "folder":
            load_image_folder(found, question)
        else:
            load_manifest(found)
        task_arg = found
    if task_arg is None:
        return None
    st.caption(f"Task read from the upload ({kind}).")
    return task_arg, question, DEFAULTS.n_examples


def _server_path_task():
    roots = sn_app.allowed_roots()
    if not roots:  # server paths are off unless the operator allows folders
        st.info("Server paths are turned off on this server: upload the task, or choose a bundled task. "
                f"The operator can allow folders with {ALLOWED_ROOTS_ENV}.")
        return None
    typed = st.text_input("Path to a .jsonl/.csv manifest or a folder of class subfolders", key="task_path",
                          persist_state="session", placeholder=f"{roots[0]}/my-task/manifest.jsonl",
                          help="Inside " + " or ".join(code(r) for r in roots) + "; a relative path is taken "
                               f"inside {code(roots[0])}.").strip()
    question = st.text_input("Question (only for a folder of class subfolders)", key="path_question",
                             persist_state="session").strip() or None
    if not typed:
        st.info("Type a path, or choose a bundled task.")
        return None
    task_arg = None
    with sn_app.guarded("Task", stop=False):
        task_arg = sn_app.task_path(typed, question)
    if task_arg is None:
        return None
    return task_arg, question, DEFAULTS.n_examples


def _search_settings(loaded) -> dict:
    """Step 3: the search settings as read from the widgets."""
    st.subheader("3 · Search settings")
    c1, c2, c3 = st.columns(3)
    site_names = {"mlp": "MLP neurons (mlp.hook_post)", "resid": "residual stream (hook_resid_post)",
                  "attn": "attention heads' outputs (attn.hook_z)"}
    s = {}
    s["sites"] = c1.multiselect("Sites", list(site_names), default=["mlp"], format_func=site_names.get, key="sites",
                                persist_state="session")
    s["layers"] = c1.multiselect("Layers", list(range(loaded.n_layers)), default=list(range(loaded.n_layers)),
                                 key="layers", help="Decoder layers to search. Fewer layers = a faster search.")
    s["probe_per_class"] = int(c2.number_input("Probe examples per class", 2, 2000, DEFAULTS.probe_per_class, key="probe_per_class",
                                               persist_state="session",
                                               help="Fit and rank every neuron on this many examples of each class "
                                                    "(SAVs use about 20)."))
    s["test_per_class"] = int(c2.number_input("Test examples per class (0 = all the rest)", 0, 20000, 0,
                                              key="test_per_class", persist_state="session"))
    s["seed"] = int(c2.number_input("Split seed", 0, 2**31 - 1, DEFAULTS.seed, key="seed", persist_state="session"))
    s["k"] = int(c3.number_input("Neurons in the vote (top-k)", 1, 25, DEFAULTS.k, key="k", persist_state="session"))
    s["rule"] = c3.selectbox("Rule", list(RULES), key="rule",
                             persist_state="session",
                             help="auto: threshold for two classes, nearest class mean for more.")
    s["metric"] = c3.selectbox("Ranking metric", list(METRICS), key="metric",
                               persist_state="session")
    with st.expander("More settings"):
        s["baselines"] = st.checkbox("Run the baselines (base model's generated answer, SAV, linear probe)", True,
                                     key="baselines", persist_state="session")
        s["l_max"] = st.number_input("Latest layer allowed (early-exit budget; -1 = any)", -1,
                                     loaded.n_layers - 1, -1, key="l_max")
        s["instruction"] = st.text_input("Answer-format instruction (empty = the task's own)", key="instruction",
                                         persist_state="session")
        s["batch_size"] = int(st.number_input("Batch size", 1, 512, DEFAULTS.batch_size, key="batch_size", persist_state="session"))
    return s


def _run_search(model_spec, loaded, task, s: dict) -> None:
    """Validate the settings, run the search with a progress bar, and select its result."""
    from sn_core.config import SearchConfig
    from sn_core.search.run import run_search

    task_arg, question, n_examples = task
    config = None
    with sn_app.guarded("Search settings", stop=False):
        if not s["sites"]:
            raise ValueError("choose at least one site")
        if not s["layers"]:
            raise ValueError("choose at least one layer")
        config = SearchConfig(
            model=model_spec, task=task_arg, question=question, instruction=s["instruction"] or None,
            n_examples=n_examples, probe_per_class=s["probe_per_class"],
            test_per_class=s["test_per_class"] or None, seed=s["seed"], sites=tuple(s["sites"]),
            layers=tuple(sorted(s["layers"])), l_max=None if s["l_max"] < 0 else int(s["l_max"]), k=s["k"],
            rule=s["rule"], metric=s["metric"], baselines=s["baselines"], batch_size=s["batch_size"]).validate()
    if config is None:
        return
    bar = sn_app.ProgressBar()
    res = None
    with sn_app.guarded("Search", stop=False):
        res = run_search(config, loaded=loaded, progress=bar, root=str(default_root()))
    bar.clear()
    if res is None:
        return
    sn_app.set_search(res.key)
    sn_app.get_search_list.clear()
    st.session_state[sn_app.TASK_LABEL] = str(res.summary.task)
    how = "from the cache" if res.summary.cache_hit else f"in {res.summary.seconds:.1f} s"
    st.success(f"Search `{sn_app.short_key(res.key)}` finished {how}.", icon="✅")


with tab_new:
    new_search()

# -------------------------------------------------------------------------------------------- previous searches
with tab_prev:
    rows, skipped = [], []
    with sn_app.guarded("Listing previous searches", stop=False):
        rows = sn_app.visible_searches(sn_app.get_search_list(str(default_root())), skipped)
    if skipped:
        st.warning(f"Skipped {len(skipped)} stored search(es) that cannot be listed: {md('; '.join(skipped))}.")
    if not rows:
        st.info("No previous searches in the store yet.")
    else:
        def ci_cell(acc, n) -> str | None:
            try:
                ci = interval_from_accuracy(None if acc is None else float(acc), int(n or 0))
            except (TypeError, ValueError):
                ci = None
            return None if ci is None else f"{ci[0]:.3f}–{ci[1]:.3f}"

        def row(r: dict) -> dict:
            summ, conf = r.get("summary") or {}, r.get("config") or {}
            return {"created": pd.to_datetime(r.get("created"), errors="coerce", utc=True), "model": r.get("model_id"),
                    "task": r.get("task"), "probe / test": f"{summ.get('n_probe', '?')} / {summ.get('n_test', '?')}",
                    "instruction": conf.get("instruction") or "(the task's own)",
                    "Super Neuron": summ.get("sn_neuron_id"), "test accuracy": summ.get("sn_test_accuracy"),
                    "95% CI": ci_cell(summ.get("sn_test_accuracy"), summ.get("n_test")), "key": r.get("key")}

        table = pd.DataFrame([row(r) for r in rows])  # probe / test and instruction tell look-alike searches apart
        st.caption("Select a row to reopen that search (results come from the store; nothing is recomputed).")
        ev = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="single-row", key="prev_table",
                          column_config={"test accuracy": st.column_config.NumberColumn(format="%.3f"),
                                         "created": st.column_config.DatetimeColumn("created (UTC)",
                                                                                    format="YYYY-MM-DD HH:mm")})
        picked = ev.selection.rows if ev is not None else []
        if picked:
            key = table.iloc[picked[0]]["key"]
            if st.button(f"Reopen search {md(sn_app.short_key(key))}", key="reopen"):
                sn_app.set_search(key)
                st.rerun()

# ------------------------------------------------------------------------------------------------ current search
res = None
with sn_app.guarded("Opening the current search"):
    res = sn_app.current_result()
if res is not None:
    st.divider()
    s = res.summary
    st.subheader(f"Current search {code(sn_app.short_key(res.key))}: {md(s.task)} on {code(s.model_id)}")

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"

    def ci_text(ci) -> str:
        return "n/a" if not ci or ci[0] is None else f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}%"

    def p_text(p) -> str:
        return "n/a" if p is None else f"{p:.2g}"

    # 95% Wilson intervals and exact paired McNemar p-values (computed by the search; older searches: the
    # interval from the accuracy and the test size)
    sn_ci = s.sn_test_ci or interval_from_accuracy(s.sn_test_accuracy, int(s.n_test or 0))
    base_ci = s.base_ci or interval_from_accuracy(s.base_accuracy, int(s.n_test or 0))
    m = st.columns(5)
    m[0].metric("Super Neuron (test)", pct(s.sn_test_accuracy),
                help=f"Held-out accuracy of the top-{s.k} neuron(s): {md(s.sn_neuron_id)}. 95% interval "
                     f"{ci_text(sn_ci)} ({s.n_test} test examples); exact McNemar p-value against the base model "
                     f"{p_text(s.p_sn_vs_base)}, against SAV {p_text(s.p_sn_vs_sav)}.")
    m[1].metric("Super Neuron (probe)", pct(s.sn_probe_accuracy),
                help="On the probe split, which chose it: optimistic.")
    base_skipped = (res.baselines.get("base") or {}).get("skipped") if isinstance(res.baselines, dict) else None
    why_na = ("" if s.base_accuracy is not None else
              f" n/a: {md(base_skipped)}." if base_skipped else " n/a: this search ran without the baselines.")
    m[2].metric("Base model (test)", pct(s.base_accuracy),
                help="The full model's generated answer, matched to the label set, on the test split."
                     + (f" 95% interval {ci_text(base_ci)}." if base_ci else "") + why_na)
    m[3].metric("Null control", pct(s.null_probe_accuracy),
                help="Best probe score of any neuron after shuffling the labels: what chance alone reaches.")
    m[4].metric("Chance", pct(s.chance))
    st.caption(f"{s.n_probe} probe and {s.n_test} test examples, {s.n_classes} classes; "
               f"rule **{md(s.rule)}**, sites {md(', '.join(s.sites or []))}, "
               f"layers {', '.join(str(x) for x in s.layers or [])}; instruction “{md(s.instruction)}”"
               + ("; baselines not run." if s.base_accuracy is None and not base_skipped else "."))
    st.caption(f"**Uncertainty** (95% Wilson intervals on the {s.n_test} test examples): Super Neuron "
               f"{ci_text(sn_ci)}, base model {ci_text(base_ci)}. Exact paired McNemar p-value of the neuron against "
               f"the base model **{p_text(s.p_sn_vs_base)}**, against SAV **{p_text(s.p_sn_vs_sav)}** (same test "
               "examples; below 0.05, the difference is unlikely to be noise).")

    if s.shortcut_neuron_id is not None:
        st.info(f"**Recommended shortcut: {code(s.shortcut_neuron_id)}**, exit after layer {s.shortcut_layer} of "
                f"{s.n_layers_total} (FLOP limit {s.shortcut_flop_limit:.1f}×), test accuracy "
                f"{pct(s.shortcut_test_accuracy)}: the earliest exit whose best neuron is not significantly below the "
                "overall best on the probe split. The playground answers with it and exports it.", icon="⚡")
        if st.button("Try the shortcut in the playground", key="open_playground"):
            sn_app.go("playground")

    st.markdown("**Top neurons** (ranked by probe score; select a row to inspect it)")
    top = with_intervals(sn_app.top_table_view(res.top_k), int(s.n_test or 0))  # + 95% interval of each test accuracy
    ev = st.dataframe(top, hide_index=True, on_select="rerun", selection_mode="single-row", key="top_table",
                      column_config=sn_app.top_table_config(), height=320)
    picked = ev.selection.rows if ev is not None else []
    if picked:
        sn_app.select_neuron(str(top.iloc[picked[0]]["neuron_id"]))
    c1, c2 = st.columns(2)
    nid = st.session_state.get(sn_app.NEURON) or s.sn_neuron_id
    if c1.button(f"Inspect {md(nid)}", key="open_inspector", type="primary"):
        sn_app.select_neuron(nid)
        sn_app.go("inspector")
    if c2.button("Open the layer map", key="open_layer_map"):
        sn_app.go("layer_map")

"""The Robustness page (robustness report, probe-size curve), the Neuron atlas page and ``sn_core.reports.atlas``, under
Streamlit's AppTest on the demo model.

Two small searches of different tasks (shapes-color and digits-parity: 48 examples, 6 probe examples per class,
layers 0, 2, 4) are run once into the session's store; the pages open them as arriving from the Search page would.
Bad cases: no search, a search whose stored files are damaged (it cannot be reopened), a rewording with words the
model cannot read, an empty store.
"""
from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
from apphelpers import PAGE_TIMEOUT, SEARCH_TIMEOUT, SMALL, assert_clean, errors, open_page, shown

import sn_app
from sn_core.reports.robustness import FLAG, RobustnessReport

# shapes-color: the same settings as the Search page's AppTests (a cache hit when they ran first)
SEARCHES = {"shapes-color": {k: v for k, v in SMALL.items() if k != "task"},
            "digits-parity": dict(n_examples=48, probe_per_class=6, layers=(0, 2, 4))}


def frame(at, *columns) -> pd.DataFrame:
    """The first table on the page that has all ``columns`` (tables without selection carry no key in AppTest)."""
    for d in at.dataframe:
        if set(columns) <= set(d.value.columns):
            return d.value
    raise AssertionError(f"no table with columns {columns}")


@pytest.fixture(scope="module")
def keys(cache_dir):
    """Store keys of the two small searches (run through the library into the session's store)."""
    from sn_core.config import SearchConfig
    from sn_core.search.run import run_search

    loaded = sn_app.get_model("demo")  # the app's cached model: the pages reuse it
    return {task: run_search(SearchConfig(task=task, **kw), loaded=loaded, root=str(cache_dir)).key
            for task, kw in SEARCHES.items()}


@pytest.fixture(scope="module")
def broken(keys, cache_dir):
    """A copy of the digits-parity search whose stored probe scores are gone: listed, but it cannot be reopened."""
    src = cache_dir / keys["digits-parity"]
    key = "broken" + keys["digits-parity"][6:40]
    dst = cache_dir / key
    shutil.copytree(src, dst)
    for f in (dst / "arrays").glob("scores.*"):
        f.unlink()
    # the newest search of its task: listings are ordered by the newest file time at whole seconds, so the copy is
    # dated 2 s after its source (a plain touch can fall in the same second, and the order is then the folders')
    newest = max(p.stat().st_mtime for p in src.rglob("*") if p.is_file())
    os.utime(dst / "complete.json", (newest + 2, newest + 2))
    sn_app.get_search_list.clear()
    yield key
    shutil.rmtree(dst, ignore_errors=True)
    sn_app.get_search_list.clear()


@pytest.fixture(scope="module")
def robust(keys):
    """The Robustness page after running the report on 8 test examples of the shapes-color search."""
    at = open_page("robustness", **{sn_app.SEARCH: keys["shapes-color"]})
    assert_clean(at)
    at.number_input(key="rb_max_examples").set_value(8)
    area = next(a for a in at.text_area if a.key.startswith("rb_rewordings_"))
    assert "What color is it?" in area.value  # the task's default rewordings, editable
    area.set_value("Which color is the shape?\n{question} | Answer with a word.")  # two, to keep it short
    at.button(key="rb_run").click().run(timeout=SEARCH_TIMEOUT)
    return at


# ---------------------------------------------------------------------------------------------------- robustness
def test_robustness_without_a_search_points_to_the_search_page():
    at = open_page("robustness")
    assert_clean(at)
    assert not errors(at)
    assert any("No search yet" in i.value for i in at.info)


def test_robustness_report_table_chart_and_flag_logic(robust, keys):
    at = robust
    assert_clean(at)
    assert not errors(at), errors(at)
    doc = at.session_state[sn_app.ROBUSTNESS][keys["shapes-color"]]["report"]
    report = RobustnessReport.from_json(doc)
    table = frame(at, "condition", "neuron_ci_low")
    assert list(table["condition"]) == list(report.rows["condition"])
    kinds = set(table["kind"])
    assert {"original", "rewording", "shifted", "control"} <= kinds
    assert list(table[table["kind"] == "rewording"]["question"]) == ["Which color is the shape?", "What color is the "
                                                                     "shape?"]
    assert list(table[table["kind"] == "rewording"]["instruction"])[1] == "Answer with a word."
    ok = table[table["neuron_accuracy"].notna()]
    assert len(ok) == 7 and (ok["n"] == 8).all()  # original, 2 rewordings, shifted, 3 controls
    for who in ("neuron", "base"):  # every accuracy with its interval around it
        assert (ok[f"{who}_ci_low"] <= ok[f"{who}_accuracy"] + 1e-12).all()
        assert (ok[f"{who}_accuracy"] <= ok[f"{who}_ci_high"] + 1e-12).all()
    assert at.get("plotly_chart")  # the condition chart
    # the flag is shown exactly when the report sets it, for the neuron and for the base model
    warned = [w.value for w in at.warning]
    assert any(f"The neuron {FLAG}" in w for w in warned) == report.rows["neuron_flag"].notna().any()
    assert any(f"The base model {FLAG}" in w for w in warned) == report.rows["base_flag"].notna().any()
    assert any("No grounding control is flagged" in s.value for s in at.success) == (not report.flags)


def test_robustness_flag_is_shown_prominently(robust, keys):
    doc = dict(robust.session_state[sn_app.ROBUSTNESS][keys["shapes-color"]]["report"])
    rows = [dict(r) for r in doc["rows"]]
    blank = next(r for r in rows if r["condition"] == "blank image")
    blank.update(neuron_accuracy=0.9, neuron_ci_low=0.6, neuron_ci_high=0.98, chance=0.25, neuron_flag=FLAG)
    doc["rows"], doc["flags"] = rows, ["blank image: neuron accuracy 0.900 stays above chance"]
    at = open_page("robustness", **{sn_app.SEARCH: keys["shapes-color"], sn_app.ROBUSTNESS: {keys["shapes-color"]:
                                                                                    {"report": doc}}})
    assert_clean(at)
    flagged = [w.value for w in at.warning if FLAG in w.value]
    assert flagged and "blank image" in flagged[0]
    assert not any("No grounding control is flagged" in s.value for s in at.success)
    about = open_page("about", **{sn_app.SEARCH: keys["shapes-color"], sn_app.ROBUSTNESS: {keys["shapes-color"]:
                                                                                  {"report": doc}}})
    assert_clean(about)
    assert any("blank image: neuron" in m.value for m in about.markdown)  # the About page reads the report


def test_rewording_the_model_cannot_read_is_an_error(keys):
    at = open_page("robustness", **{sn_app.SEARCH: keys["shapes-color"]})
    area = next(a for a in at.text_area if a.key.startswith("rb_rewordings_"))
    area.set_value("What colour zzqqx is it?")
    at.button(key="rb_run").click().run()
    assert_clean(at)
    assert any("vocabulary" in e for e in errors(at)), errors(at)


def test_probe_size_curve(keys):
    at = open_page("robustness", **{sn_app.SEARCH: keys["shapes-color"]})
    at.multiselect(key="rb_sizes").set_value([2, 5, 20])  # 12 per class: 20 is too many
    at.number_input(key="rb_seeds").set_value(2)
    at.button(key="rb_curve_run").click().run()
    assert_clean(at)
    assert not errors(at), errors(at)
    summ = frame(at, "n_seeds", "test_accuracy_mean")
    assert list(summ["probe_per_class"]) == [2, 5, 20]
    assert list(summ["n_seeds"]) == [2, 2, 0]
    assert (summ["test_accuracy_min"] <= summ["test_accuracy_max"]).iloc[:2].all()
    assert any("skipped: 20 probe examples" in shown(i.value) for i in at.info)
    rows = frame(at, "seed", "test_ci_low")
    assert {"test_ci_low", "test_ci_high"} <= set(rows.columns)


def test_robustness_on_a_search_that_cannot_be_reopened(broken):
    at = open_page("robustness", **{sn_app.SEARCH: broken})
    assert_clean(at)
    assert any("Opening the search" in e for e in errors(at)), errors(at)
    assert sn_app.SEARCH not in at.session_state


# --------------------------------------------------------------------------------------------------------- atlas
def test_atlas_library_two_tasks(keys, cache_dir):
    from sn_core.reports.atlas import LAYER_COLUMNS, TOP_COLUMNS, atlas_models, build_atlas
    from sn_core.search.result import list_searches

    rows = [r for r in list_searches(cache_dir) if r["key"] in keys.values()]
    assert atlas_models(rows) == {"demo": 2}
    a = build_atlas(rows, root=cache_dir, top_n=10)
    assert a.model_id == "demo" and not a.skipped
    assert sorted(a.tasks) == sorted(SEARCHES)
    assert list(a.top.columns) == list(TOP_COLUMNS) and len(a.top) == 20
    assert a.top.groupby("task")["rank"].apply(list).to_dict() == {t: list(range(1, 11)) for t in SEARCHES}
    assert list(a.layer_counts.columns) == list(LAYER_COLUMNS) and len(a.layer_counts) == 6  # 2 tasks x 3 layers
    from sn_core.search.run import SearchResult

    for task, key in keys.items():  # counts above the null control, read from the stored scores
        res = SearchResult.load(key, root=cache_dir)
        want = (res.scores("mlp") > res.summary.null_probe_accuracy).sum(axis=1)
        got = a.layer_counts[a.layer_counts["task"] == task].sort_values("layer")["n_above_null"]
        assert list(got) == list(want)
    assert list(a.shared_layers["layer"]) == [0, 2, 4]  # every layer searched by both tasks
    assert (a.shared_layers["n_tasks_searched"] == 2).all()
    assert a.heatmap("mlp").shape == (2, 3)
    shared = set(a.top[a.top["task"] == "shapes-color"]["neuron_id"]) & set(
        a.top[a.top["task"] == "digits-parity"]["neuron_id"])
    assert set(a.shared_neurons["neuron_id"]) == shared
    with pytest.raises(ValueError, match="choose one"):
        build_atlas(rows + [dict(rows[0], model_id="other", key="x")], root=cache_dir)


def test_atlas_prefers_the_open_search_over_a_newer_one_of_its_task(keys, cache_dir):
    from sn_core.reports.atlas import build_atlas
    from sn_core.search.result import SearchResult, list_searches

    rows = [r for r in list_searches(cache_dir) if r["key"] in keys.values()]
    color = next(r for r in rows if r["task"] == "shapes-color")
    rows.append(dict(color, key="newer-side-search", created="9999-12-31T00:00:00"))

    def load(key):
        return SearchResult.load(keys["shapes-color"] if key == "newer-side-search" else key, root=cache_dir)

    def key_of(atlas):
        return atlas.searches.set_index("task").loc["shapes-color", "key"]

    assert key_of(build_atlas(rows, root=cache_dir, load=load)) == "newer-side-search"  # newest by default
    a = build_atlas(rows, root=cache_dir, load=load, prefer=keys["shapes-color"])
    assert key_of(a) == keys["shapes-color"] and set(a.tasks) == set(SEARCHES)
    assert (a.searches["instruction"] == SearchResult.load(keys["shapes-color"], root=cache_dir).summary.instruction).any()


def test_atlas_library_skips_a_search_that_cannot_be_opened(keys, broken, cache_dir):
    from sn_core.reports.atlas import build_atlas

    a = build_atlas(root=cache_dir)  # the whole store, the broken copy being the newest digits-parity search
    assert [k for k, _ in a.skipped] == [broken]
    assert sorted(a.tasks) == sorted(SEARCHES)  # its task falls back to the search that opens
    assert keys["digits-parity"] in list(a.searches["key"])


def test_atlas_page_shows_both_tasks_and_shared_layers(keys, broken):
    at = open_page("atlas")
    assert_clean(at)
    assert not errors(at), errors(at)
    tasks = frame(at, "sn_test_ci_low", "neurons_above_null")
    assert sorted(tasks["task"]) == sorted(SEARCHES)
    assert {"sn_test_ci_low", "sn_test_ci_high"} <= set(tasks.columns)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tasks"] == "2"
    assert int(metrics["Layers shared (above null)"]) >= 1
    assert frame(at, "n_tasks_in_top")["layer"].tolist() == [0, 2, 4]
    assert len(at.get("plotly_chart")) == 1  # the task x layer heatmap
    assert any("cannot be opened" in w.value and broken[:10] in w.value for w in at.warning)
    top = at.dataframe(key="at_top").value
    assert len(top) == 20 and {"test_ci_low", "test_ci_high"} <= set(top.columns)
    # a selected neuron opens in the inspector, on its own task's search
    row = list(top["task"]).index("digits-parity") + 2
    at.session_state["at_top"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    at.button(key="at_open").click().run(timeout=PAGE_TIMEOUT)
    assert_clean(at)
    assert at.title[0].value.endswith("Neuron inspector")
    assert at.session_state[sn_app.SEARCH] == keys["digits-parity"]
    assert at.session_state[sn_app.NEURON] == top["neuron_id"].iloc[row]


def test_atlas_with_an_empty_store(monkeypatch):
    monkeypatch.setattr(sn_app, "get_search_list", lambda root: [])
    at = open_page("atlas")
    assert_clean(at)
    assert any("No stored searches yet" in i.value for i in at.info)


# --------------------------------------------------------------------------------------- uncertainty on the pages
def test_accuracies_carry_their_intervals_on_search_inspector_and_layer_map(keys):
    from sn_core.search.run import SearchResult
    from sn_core.scoring.stats import interval_from_accuracy

    key = keys["shapes-color"]
    s = SearchResult.load(key).summary
    at = open_page(None, **{sn_app.SEARCH: key})  # the Search page
    assert_clean(at)
    lo, hi = s.sn_test_ci or interval_from_accuracy(s.sn_test_accuracy, s.n_test)
    caption = next(c.value for c in at.caption if "Uncertainty" in c.value)
    assert f"{100 * lo:.1f}–{100 * hi:.1f}%" in caption and "McNemar" in caption
    assert f"{s.p_sn_vs_base:.2g}" in caption and f"{s.p_sn_vs_sav:.2g}" in caption
    metric = next(m for m in at.metric if m.label == "Super Neuron (test)")
    assert f"{100 * lo:.1f}–{100 * hi:.1f}%" in metric.help
    top = at.dataframe(key="top_table").value
    assert (top["test_ci_low"] <= top["test_accuracy"]).all() and (top["test_accuracy"] <= top["test_ci_high"]).all()

    at.button(key="open_inspector").click().run()  # the inspector: the test accuracy's interval
    assert_clean(at)
    assert any("95% interval" in c.value and "held-out examples" in c.value for c in at.caption)

    at = open_page("layer_map", **{sn_app.SEARCH: key})  # per-layer tables
    assert_clean(at)
    assert not errors(at)
    assert frame(at, "layer", "rank", "test_ci_low", "test_ci_high") is not None


def test_claims_figures_on_synthetic_tables():
    from sn_core.plots import report_figures as plots_claims

    rows = pd.DataFrame([
        {"condition": "original", "kind": "original", "available": True, "neuron_accuracy": 0.9, "neuron_ci_low": 0.8,
         "neuron_ci_high": 0.95, "base_accuracy": 1.0, "base_ci_low": 0.9, "base_ci_high": 1.0, "neuron_flag": None,
         "base_flag": None},
        {"condition": "blank image", "kind": "control", "available": True, "neuron_accuracy": 0.7,
         "neuron_ci_low": 0.5, "neuron_ci_high": 0.85, "base_accuracy": float("nan"), "base_ci_low": float("nan"),
         "base_ci_high": float("nan"), "neuron_flag": FLAG, "base_flag": None},
        {"condition": "shifted images", "kind": "shifted", "available": False, "neuron_accuracy": float("nan"),
         "neuron_ci_low": float("nan"), "neuron_ci_high": float("nan"), "base_accuracy": float("nan"),
         "base_ci_low": float("nan"), "base_ci_high": float("nan"), "neuron_flag": None, "base_flag": None}])
    fig = plots_claims.robustness_conditions(rows, chance=0.25)
    neuron, base = fig.data[0], fig.data[1]
    assert len(neuron.y) == 2 and len(base.y) == 1  # unavailable left out; no base figures on the control
    assert list(fig.layout.xaxis.ticktext) == ["original", "blank image"]
    curve = pd.DataFrame([{"probe_per_class": s, "seed": seed, "neuron_id": "n", "test_accuracy": a,
                           "search_neuron_test_accuracy": a, "note": None}
                          for s, seed, a in ((5, 0, 0.8), (5, 1, 0.9), (10, 0, 0.95))]
                         + [{"probe_per_class": 50, "seed": None, "note": "skipped"}])
    fig = plots_claims.probe_size_curve(curve, base_accuracy=1.0, chance=0.5)
    mean = next(t for t in fig.data if t.name == "selected neuron (mean)")
    assert list(mean.x) == [5, 10] and list(mean.y) == pytest.approx([0.85, 0.95])
    mat = pd.DataFrame([[3.0, float("nan")], [1.0, 2.0]], index=["a", "b"], columns=[0, 4])
    fig = plots_claims.atlas_heatmap(mat, "mlp")
    assert fig.data[0].text[0][1] == ""  # a layer the task did not search: an empty cell

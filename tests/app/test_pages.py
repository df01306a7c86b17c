"""Every page of the app under Streamlit's AppTest, on the demo model with a small search.

The search itself runs once through the Search page's widgets (module fixture); the other pages open that search
by presetting its key in session state, as arriving from the Search page would. Error paths check that a user's
mistake shows ``st.error`` and never an exception element.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from apphelpers import (PAGE_TIMEOUT, SEARCH_TIMEOUT, SMALL, assert_clean, errors, new_app, open_page, png_bytes,
                        shown)

import sn_app

PAGES = ["search", "layer_map", "neuron_inspector", "playground", "compare", "about"]


def _set_small_search(at):
    at.number_input(key="n_examples").set_value(SMALL["n_examples"])
    at.number_input(key="probe_per_class").set_value(SMALL["probe_per_class"])
    at.multiselect(key="layers").set_value(list(SMALL["layers"]))
    at.number_input(key="seed").set_value(SMALL["seed"])


@pytest.fixture(scope="module")
def searched():
    """The Search page after running the small search through its widgets."""
    at = new_app().run(timeout=SEARCH_TIMEOUT)  # default page: Search (loads the demo model once)
    assert_clean(at)
    _set_small_search(at)
    at.button(key="run_search").click().run(timeout=SEARCH_TIMEOUT)
    return at


@pytest.fixture(scope="module")
def key(searched):
    return searched.session_state[sn_app.SEARCH]


# ------------------------------------------------------------------------------------------------------- router
def test_router_registers_every_page_and_opens_search_by_default():
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    assert_clean(at)
    assert at.title[0].value.endswith("Search for Super Neurons")
    for page in PAGES:  # switch_page refuses a file that st.navigation did not register
        at.switch_page(f"app_pages/{page}.py")
    assert "Model:" in at.sidebar.markdown[-1].value


@pytest.mark.parametrize("page", PAGES[1:])
def test_pages_without_a_search_point_to_the_search_page(page):
    at = open_page(page)
    assert_clean(at)
    assert not errors(at)
    if page != "about":
        assert any("No search yet" in i.value for i in at.info)


# ------------------------------------------------------------------------------------------------------- search
def test_search_runs_on_demo_model_and_shows_results(searched, key):
    at = searched
    assert_clean(at)
    assert not errors(at)
    assert any("finished" in s.value for s in at.success)
    from sn_core.search.run import SearchResult

    res = SearchResult.load(key)
    assert res.config.n_examples == SMALL["n_examples"] and res.layers == SMALL["layers"]
    assert res.summary.n_probe == SMALL["probe_per_class"] * 4  # shapes-color has 4 classes
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Super Neuron (test)"] == f"{100 * res.summary.sn_test_accuracy:.1f}%"
    top = at.dataframe(key="top_table").value
    assert list(top["neuron_id"]) == list(res.top_k["neuron_id"])
    assert "Search:" in at.sidebar.markdown[-1].value and key[:10] in at.sidebar.markdown[-1].value
    s = res.summary  # the recommended shortcut is named on the Search page, with a way to try it
    assert any(f"Recommended shortcut: `{s.shortcut_neuron_id}`" in i.value and f"layer {s.shortcut_layer} of" in i.value
               for i in at.info)
    assert at.button(key="open_playground").label == "Try the shortcut in the playground"


def test_same_settings_come_back_from_the_cache(key):
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    _set_small_search(at)
    at.button(key="run_search").click().run(timeout=PAGE_TIMEOUT)
    assert_clean(at)
    assert any("from the cache" in s.value for s in at.success)
    assert at.session_state[sn_app.SEARCH] == key


def test_selecting_a_table_row_opens_that_neuron_in_the_inspector(key):
    at = open_page(None, **{sn_app.SEARCH: key})
    at.session_state["top_table"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    second = at.dataframe(key="top_table").value["neuron_id"].iloc[1]
    assert at.session_state[sn_app.NEURON] == second
    at.button(key="open_inspector").click().run()
    assert_clean(at)
    assert at.title[0].value.endswith("Neuron inspector")
    assert at.query_params["neuron"] == second and at.query_params["search"] == key


def test_previous_searches_can_be_reopened(key):
    at = open_page(None)
    prev = at.dataframe(key="prev_table").value
    mine = prev[prev["key"] == key].iloc[0]  # look-alike searches differ in their split sizes or instruction
    n_probe = SMALL["probe_per_class"] * 4  # shapes-color: 4 classes
    assert mine["probe / test"] == f"{n_probe} / {SMALL['n_examples'] - n_probe}"
    assert mine["instruction"] == "(the task's own)"
    assert key in list(prev["key"])
    at.session_state["prev_table"] = {"selection": {"rows": [list(prev["key"]).index(key)], "columns": [],
                                                    "cells": []}}
    at.run()
    at.button(key="reopen").click().run()
    assert_clean(at)
    assert at.session_state[sn_app.SEARCH] == key


def test_missing_input_on_new_search_keeps_the_other_sections(key):
    at = open_page(None, **{sn_app.SEARCH: key})
    at.radio(key="task_source").set_value("upload").run()  # nothing uploaded yet
    assert_clean(at)
    assert any("Upload a task" in i.value for i in at.info)
    assert key in list(at.dataframe(key="prev_table").value["key"])  # the Previous searches tab is still drawn
    assert at.dataframe(key="top_table").value is not None  # and so is the current search
    at.radio(key="task_source").set_value("bundled").run()
    at.radio(key="model_mode").set_value("local folder or cached hub id").run()  # an empty model path
    assert key in list(at.dataframe(key="prev_table").value["key"])


def test_the_url_keeps_the_current_search_on_every_page(key):
    """A refresh (or a copied address) reopens the search: every page writes ``?search=`` into the URL."""
    for page in PAGES[1:]:
        at = open_page(page, **{sn_app.SEARCH: key})
        assert at.query_params.get("search") in (key, [key]), (page, dict(at.query_params))


def test_search_settings_survive_a_visit_to_another_page():
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    at.selectbox(key="task_name").set_value("shapes-shape").run()
    at.number_input(key="n_examples").set_value(90)
    at.number_input(key="probe_per_class").set_value(10).run()
    at.switch_page("app_pages/layer_map.py").run()
    at.switch_page("app_pages/search.py").run(timeout=SEARCH_TIMEOUT)
    assert_clean(at)
    assert at.selectbox(key="task_name").value == "shapes-shape"
    assert at.number_input(key="n_examples").value == 90 and at.number_input(key="probe_per_class").value == 10


def test_unknown_model_shows_an_error_not_a_traceback():
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    at.radio(key="model_mode").set_value("local folder or cached hub id").run()
    at.text_input(key="model_path").set_value("/no/such/model-folder").run()
    assert_clean(at)
    assert any("/no/such/model-folder" in e for e in errors(at))
    # the app stays usable: switching back to the demo works
    at.radio(key="model_mode").set_value("demo").run()
    assert_clean(at)
    assert not errors(at), errors(at)


def _upload_task(at, files, question=None):
    at.radio(key="task_source").set_value("upload").run()
    at.file_uploader(key="task_upload").set_value(files).run()
    if question:
        at.text_input(key="upload_question").set_value(question).run()
    if not any(b.key == "run_search" for b in at.button):  # the upload itself was refused (its error is shown)
        assert_clean(at)
        return at
    at.number_input(key="probe_per_class").set_value(2)
    at.multiselect(key="layers").set_value([0])
    at.checkbox(key="baselines").uncheck()
    at.button(key="run_search").click().run(timeout=SEARCH_TIMEOUT)
    assert_clean(at)
    return at


def test_malformed_manifest_upload_shows_an_error():
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    bad = b'{"image": "a.png", "question": "q?", "label": "x"}\n{not json\n'
    _upload_task(at, [("task.jsonl", bad, "application/json"), ("a.png", png_bytes(), "image/png")])
    assert any("not valid JSON" in e and "row 2" in e for e in errors(at)), errors(at)


def test_one_class_upload_shows_an_error():
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    rows = "\n".join(json.dumps({"image": f"{i}.png", "question": "What color?", "label": "red"}) for i in range(4))
    files = [("task.jsonl", rows.encode(), "application/json")] + [
        (f"{i}.png", png_bytes((200, 10 * i, 10)), "image/png") for i in range(4)]
    _upload_task(at, files)
    assert any("two classes" in e for e in errors(at)), errors(at)


def test_uploaded_manifest_with_images_runs_a_search():
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    colors = {"red": (220, 40, 40), "blue": (40, 80, 220)}
    rows, files = [], []
    for i in range(8):
        lbl = "red" if i % 2 else "blue"
        rgb = tuple(int(np.clip(c + 7 * i, 0, 255)) for c in colors[lbl])
        files.append((f"img{i}.png", png_bytes(rgb), "image/png"))
        rows.append(json.dumps({"image": f"img{i}.png", "question": "What color is the shape?", "label": lbl}))
    files.insert(0, ("my-task.jsonl", "\n".join(rows).encode(), "application/json"))
    _upload_task(at, files)
    assert not errors(at)
    assert at.session_state[sn_app.TASK_LABEL] == "my-task"
    assert any("finished" in s.value for s in at.success)
    mine = at.session_state[sn_app.SEARCH]
    assert mine in list(at.dataframe(key="prev_table").value["key"])  # the uploader sees its search ...
    other = new_app().run(timeout=SEARCH_TIMEOUT)  # ... another session does not list it
    listed = [] if not other.dataframe else list(other.dataframe(key="prev_table").value["key"])
    assert mine not in listed
    other = open_page("layer_map", **{sn_app.SEARCH: mine})  # a link carrying its key still opens it
    assert_clean(other)
    assert not errors(other), errors(other)


def test_uploaded_zip_of_class_folders_needs_a_question_then_runs():
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for lbl, rgb in (("red", (220, 40, 40)), ("blue", (40, 80, 220))):
            for i in range(4):
                zf.writestr(f"colours/{lbl}/{i}.png", png_bytes(tuple(min(255, c + 9 * i) for c in rgb)))
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    at.radio(key="task_source").set_value("upload").run()
    at.file_uploader(key="task_upload").set_value(("colours.zip", buf.getvalue(), "application/zip")).run()
    assert_clean(at)
    assert any("type the question" in e for e in errors(at))
    at = _upload_task(at, [("colours.zip", buf.getvalue(), "application/zip")], question="What color is the shape?")
    assert not errors(at)
    assert at.session_state[sn_app.TASK_LABEL] == "colours"


def test_zip_with_a_path_escape_is_refused():
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../evil.jsonl", b"{}")
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    at.radio(key="task_source").set_value("upload").run()
    at.file_uploader(key="task_upload").set_value(("evil.zip", buf.getvalue(), "application/zip")).run()
    assert_clean(at)
    assert any("outside the archive" in e for e in errors(at))


# ---------------------------------------------------------------------------------------------------- layer map
def test_layer_map_draws_and_opens_a_neuron(key):
    at = open_page("layer_map", **{sn_app.SEARCH: key})
    assert_clean(at)
    assert not errors(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # exit-layer frontier, heatmap, layer drill-down, per-layer curve
    from sn_core.search.run import LAYER_TOP, SearchResult

    # the frontier: its table, and the recommended shortcut named with its reason
    front = SearchResult.load(key).frontier()
    assert sum(d.value.equals(front) for d in at.dataframe) == 1
    shortcut = front[front["recommended"]].iloc[0]
    assert any(f"Recommended shortcut: **{shortcut['neuron_id']}**" in i.value for i in at.info)

    # the top neurons of each layer (docs/method.md: top-k per layer), in the expander under the per-layer curve
    from sn_core.search.uncertainty import with_intervals

    want = SearchResult.load(key).layer_top("mlp", LAYER_TOP)
    assert len(want) == LAYER_TOP * len(SMALL["layers"])
    want = with_intervals(want, SearchResult.load(key).summary.n_test)  # each test accuracy with its 95% interval
    assert sum(d.value.equals(want) for d in at.dataframe) == 1
    # the drill-down opens on the Super Neuron's layer and names that layer's best neuron as the search ranked it
    res = SearchResult.load(key)
    sn_layer = res.summary.sn_layer
    assert at.selectbox(key="lm_layer").value == sn_layer
    best = res.layer_best("mlp").set_index("layer").loc[sn_layer]
    assert any(f"Best in layer {sn_layer}: neuron {best['index']} " in c.value for c in at.caption)
    at.selectbox(key="lm_layer").set_value(SMALL["layers"][1]).run()
    at.number_input(key=f"lm_index_mlp_{SMALL['layers'][1]}").set_value(17).run()
    at.button(key="lm_open").click().run()
    assert_clean(at)
    assert at.title[0].value.endswith("Neuron inspector")
    assert at.session_state[sn_app.NEURON] == f"blocks.{SMALL['layers'][1]}.mlp.hook_post[17]"


# ----------------------------------------------------------------------------------------------------- inspector
def test_inspector_from_a_shared_url(key):
    from sn_core.search.run import SearchResult

    res = SearchResult.load(key)
    nid = res.top_k["neuron_id"].iloc[0]
    at = new_app()
    at.query_params["search"] = key
    at.query_params["neuron"] = nid
    at.run()
    at.switch_page("app_pages/neuron_inspector.py").run()
    assert_clean(at)
    assert not errors(at)
    assert at.session_state[sn_app.NEURON] == nid
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy"] == f"{100 * res.test_accuracy([nid]):.1f}%"
    assert len(at.get("plotly_chart")) == 2  # histograms, confusion matrix
    assert len(at.get("download_button")) == 3
    assert len(at.image) >= 2  # top and bottom activating examples
    # next neuron by rank, then by index
    at.button(key="ni_next_rank").click().run()
    assert at.session_state[sn_app.NEURON] == res.top_k["neuron_id"].iloc[1]
    at.button(key="ni_next_index").click().run()
    kind, layer, index = __import__("sn_core.sites", fromlist=["x"]).parse_neuron_id(res.top_k["neuron_id"].iloc[1])
    assert at.session_state[sn_app.NEURON] == f"blocks.{layer}.mlp.hook_post[{index + 1}]"
    assert_clean(at)


def test_inspector_bad_neuron_id_shows_an_error(key):
    at = open_page("neuron_inspector", **{sn_app.SEARCH: key})
    box = at.text_input[0]
    box.set_value("blocks.99.mlp.hook_post").run()
    assert_clean(at)
    assert any("not a neuron id" in e for e in errors(at))
    at = open_page("neuron_inspector", **{sn_app.SEARCH: key, sn_app.NEURON: "blocks.7.mlp.hook_post[3]"})
    assert_clean(at)
    assert any("layer 7" in e and "was not searched" in e for e in errors(at))
    # a site the search did not cover (it searched mlp only), typed or from a shared URL: an error, no traceback
    at = open_page("neuron_inspector", **{sn_app.SEARCH: key, sn_app.NEURON: "blocks.0.attn.hook_z[5]"})
    assert_clean(at)
    assert any("attn site" in e and "was not searched" in e for e in errors(at)), errors(at)
    at = open_page("neuron_inspector", **{sn_app.SEARCH: key, sn_app.NEURON: "blocks.0.mlp.hook_post[99999]"})
    assert_clean(at)
    assert any("out of range" in e for e in errors(at)), errors(at)
    # no dead end: the page goes on with the Super Neuron (its id box and buttons stay), and forgets the bad id
    from sn_core.search.run import SearchResult

    sn = SearchResult.load(key).summary.sn_neuron_id
    assert at.session_state[sn_app.NEURON] == sn and at.text_input[0].value == sn
    assert at.button(key="ni_next_index") is not None and at.get("plotly_chart")
    # a well-formed id of an unsearched layer, typed: an error, and the current neuron stays
    at.text_input[0].set_value("blocks.7.mlp.hook_post[3]").run()
    assert_clean(at)
    assert any("layer 7" in e for e in errors(at)) and at.session_state[sn_app.NEURON] == sn


def test_unknown_search_key_in_the_url_shows_an_error():
    at = new_app()
    at.query_params["search"] = "0" * 64
    at.run()
    at.switch_page("app_pages/layer_map.py").run()
    assert_clean(at)
    assert any("no finished search" in e for e in errors(at))
    # the bad key is forgotten: the next page points to the Search page instead of repeating the error
    assert sn_app.SEARCH not in at.session_state and "search" not in at.query_params
    at.switch_page("app_pages/neuron_inspector.py").run()
    assert_clean(at)
    assert not errors(at) and any("No search yet" in i.value for i in at.info)


# -------------------------------------------------------------------------------------------------- playground
def test_playground_predicts_an_example_with_both_paths(key):
    at = open_page("playground", **{sn_app.SEARCH: key})
    assert_clean(at)
    at.slider(key="ee_repeats").set_value(1)
    at.button(key="ee_go").click().run()
    assert_clean(at)
    assert not errors(at)
    metrics = {m.label: m.value for m in at.metric}
    from sn_core.search.run import SearchResult

    res = SearchResult.load(key)
    assert shown(metrics["Prediction"]) in res.labels
    assert metrics["Full / early exit"].endswith("×")
    assert len(at.get("plotly_chart")) == 1  # the value on its histogram


def test_playground_result_belongs_to_its_image_and_question(key):
    at = open_page("playground", **{sn_app.SEARCH: key})
    at.slider(key="ee_repeats").set_value(1)
    at.button(key="ee_go").click().run()
    assert any(h.value == "2 · Answers" for h in at.subheader)
    assert any("FLOP bound for this exit" in c.value for c in at.caption)
    at.number_input(key="ee_example").set_value(3).run()  # another image: the old answers must not stay
    assert_clean(at)
    assert not any(h.value == "2 · Answers" for h in at.subheader)
    at.number_input(key="ee_example").set_value(0).run()  # back to the answered image and question: shown again
    assert any(h.value == "2 · Answers" for h in at.subheader)


def test_playground_upload_an_image_and_predict(key):
    at = open_page("playground", **{sn_app.SEARCH: key})
    at.radio(key="ee_source").set_value("upload").run()
    at.file_uploader(key="ee_upload").set_value(("red.png", png_bytes((220, 40, 40), (64, 64)), "image/png")).run()
    assert_clean(at)
    at.slider(key="ee_repeats").set_value(1)
    at.button(key="ee_go").click().run()
    assert_clean(at)
    assert not errors(at)
    assert {m.label for m in at.metric} >= {"Prediction", "Answer", "Full / early exit"}


def test_playground_refuses_an_overlong_question(key):
    at = open_page("playground", **{sn_app.SEARCH: key})
    at.text_input[0].set_value("Is it red? " * 120).run()  # 1,320 characters
    assert_clean(at)
    assert any("1,320 characters is more than the 1,000" in e for e in errors(at)), errors(at)
    assert not [b for b in at.button if b.key == "ee_go"]  # nothing to answer until the question is short


def test_playground_corrupt_upload_shows_an_error(key):
    at = open_page("playground", **{sn_app.SEARCH: key})
    at.radio(key="ee_source").set_value("upload").run()
    at.file_uploader(key="ee_upload").set_value(("broken.png", png_bytes()[:60], "image/png")).run()
    assert_clean(at)
    assert any("broken.png" in e for e in errors(at))
    assert key[:10] in at.sidebar.markdown[-1].value  # the page stopped; the sidebar still shows the session
    at.file_uploader(key="ee_upload").set_value(("notes.png", b"hello, not an image", "image/png")).run()
    assert any("not an image" in e for e in errors(at))


# ------------------------------------------------------------------------------------------------------ compare
def test_compare_table_speed_and_robustness(key):
    at = open_page("compare", **{sn_app.SEARCH: key})
    assert_clean(at)
    table = at.dataframe[0].value
    assert len(table) == 4 and table["method"].iloc[0].startswith("Super Neuron")
    at.number_input(key="cmp_n").set_value(2)
    at.multiselect(key="cmp_bs").set_value([1, 4, 8])
    at.number_input(key="cmp_rep").set_value(1)
    at.button(key="cmp_speed").click().run(timeout=SEARCH_TIMEOUT)
    assert_clean(at)
    assert not errors(at)
    speed = at.dataframe[1].value
    # batch 4 and 8 cannot be filled by 2 images: not timed (a "batch 4" row would be a batch of 2), and said so
    assert list(speed["batch_size"]) == [1] and (speed["speedup (×)"] > 0).all()
    assert any("Not timed: batch size(s) 4, 8" in c.value for c in at.caption)
    assert any("FLOPs ratio" in c.value for c in at.caption)
    at.button(key="cmp_robust").click().run(timeout=SEARCH_TIMEOUT)
    assert_clean(at)
    assert not errors(at)
    rob = at.dataframe[-1].value
    assert list(rob["prompt"]) == ["original", "reworded", "reworded"]
    assert rob["test_accuracy"].between(0, 1).all()
    at.multiselect(key="cmp_bs").set_value([8])
    at.button(key="cmp_speed").click().run(timeout=SEARCH_TIMEOUT)
    assert any("larger than the 2 image(s)" in e for e in errors(at))


def test_compare_same_instruction_is_refused(key):
    at = open_page("compare", **{sn_app.SEARCH: key})
    at.text_input(key="cmp_instr").set_value("Answer with one word.").run()
    at.button(key="cmp_robust").click().run()
    assert_clean(at)
    assert any("same as the original" in e for e in errors(at))


# -------------------------------------------------------------------------------------------------------- about
def test_about_draws_real_data_of_the_demo_search(key):
    at = open_page("about", **{sn_app.SEARCH: key})
    assert_clean(at)
    assert not errors(at)
    # score distribution, best neuron, per-layer curve, the two measured-claims charts, layers run
    assert len(at.get("plotly_chart")) == 6
    assert len(at.get("graphviz_chart")) == 1


def test_about_shows_the_measured_claims_from_the_committed_file(key):
    from sn_core.reports import claims as claims_table

    data = claims_table.load_claims()
    n_beats, n = claims_table.beats_count(claims_table.unseen_frame(data))
    at = open_page("about", **{sn_app.SEARCH: key})
    assert_clean(at)
    assert any(f"On **{n_beats} of {n}** unseen questions" in m.value for m in at.markdown)
    tables = [d.value for d in at.dataframe]
    assert any(len(t) == len(data["unseen"]) and "neuron vs generated" in t.columns for t in tables)
    assert any(len(t) == len(data["shifted"]) and "neuron vs model, shifted" in t.columns for t in tables)


def test_about_with_a_broken_claims_file_shows_one_error_and_the_rest(key, monkeypatch, tmp_path):
    from sn_core.reports import claims as claims_table

    bad = tmp_path / "claims-demo.json"
    bad.write_text('{"settings": {}, "unseen": [{"task": "x"}], "shifted": []}')
    monkeypatch.setattr(claims_table, "CLAIMS_FILE", bad)
    at = open_page("about", **{sn_app.SEARCH: key})
    assert_clean(at)
    assert len(errors(at)) == 1 and "claims-demo.json: unseen[0] lacks" in errors(at)[0], errors(at)
    assert len(at.get("plotly_chart")) == 4  # the search's pictures and the layers-run bar stay


def test_about_with_unreadable_scores_shows_one_error_and_the_rest(key, monkeypatch):
    from sn_core.search.run import SearchResult

    def broken(self, site):
        raise KeyError("site 'mlp' was not searched")

    monkeypatch.setattr(SearchResult, "scores", broken)
    at = open_page("about", **{sn_app.SEARCH: key})
    assert_clean(at)
    assert len(errors(at)) == 1 and "Reading the scores" in errors(at)[0], errors(at)
    # best neuron, per-layer curve, the two measured-claims charts, layers run: no empty distribution
    assert len(at.get("plotly_chart")) == 5

"""The pages open on the recommended shortcut, say why, and keep the overall best one click away.

A search over all 16 layers of the demo model on shapes-color (no baselines, to stay fast), where the recommended
shortcut (an early layer) differs from the overall best neuron (a late layer)."""
from __future__ import annotations

import pytest
from apphelpers import assert_clean, errors, open_page, shown

import sn_app


@pytest.fixture(scope="module")
def res(cache_dir):
    from sn_core.config import SearchConfig
    from sn_core.search.run import run_search

    r = run_search(SearchConfig(task="shapes-color", n_examples=200, baselines=False))
    assert r.shortcut_neuron_id != r.summary.sn_neuron_id, r.frontier()  # the premise of these tests
    return r


def test_playground_opens_on_the_shortcut_and_measures_a_speedup(res):
    at = open_page("playground", **{sn_app.SEARCH: res.key})
    assert_clean(at)
    assert at.radio(key="ee_which").value.startswith(f"recommended shortcut ({res.shortcut_neuron_id}")
    assert any(f"Recommended shortcut: **{res.shortcut_neuron_id}**" in i.value for i in at.info)
    at.slider(key="ee_repeats").set_value(3)
    at.button(key="ee_go").click().run()
    assert_clean(at)
    assert not errors(at)
    speed = float(next(m.value for m in at.metric if m.label == "Full / early exit").rstrip("×"))
    assert speed > 1.0  # an exit in the first quarter of 16 layers answers faster than generation
    layer = int(res.frontier().query("recommended")["layer"].iloc[0])
    assert sn_app.MEASURED in at.session_state and layer in at.session_state[sn_app.MEASURED][res.key]
    # the overall best neuron is one click away
    best = next(shown(o) for o in at.radio(key="ee_which").options if o.startswith("overall best"))
    at.radio(key="ee_which").set_value(best).run()
    assert_clean(at)
    assert res.summary.sn_neuron_id in at.radio(key="ee_which").value


def test_compare_lists_the_shortcut_first_with_intervals(res):
    at = open_page("compare", **{sn_app.SEARCH: res.key})
    assert_clean(at)
    table = at.dataframe[0].value
    assert table["method"].iloc[0].startswith(f"Recommended shortcut ({res.shortcut_neuron_id}")
    assert table["95% interval"].iloc[0] and table["95% interval"].iloc[1]
    assert at.radio(key="cmp_which").value.startswith("recommended shortcut")


def test_about_opens_on_the_shortcut(res):
    at = open_page("about", **{sn_app.SEARCH: res.key})
    assert_clean(at)
    assert not errors(at)
    assert at.radio(key="about_neuron").value.startswith("recommended shortcut")
    assert any("Recommended shortcut" in i.value for i in at.info)


def test_layer_map_frontier_point_selects_its_neuron_and_button_opens_the_playground(res):
    at = open_page("layer_map", **{sn_app.SEARCH: res.key})
    assert_clean(at)
    at.button(key="lm_try_shortcut").click().run()
    assert_clean(at)
    assert at.session_state[sn_app.NEURON] == res.shortcut_neuron_id
    assert at.radio(key="ee_which").value.startswith("recommended shortcut")


def test_playground_exports_the_shortcut_as_a_folder_and_a_streamed_zip(res):
    import json
    import zipfile
    from pathlib import Path

    from sn_core.shortcut import load_shortcut

    at = open_page("playground", **{sn_app.SEARCH: res.key})
    at.button(key="ee_export").click().run(timeout=400)
    assert_clean(at)
    assert not errors(at)
    built = at.session_state["ee_zip"]
    assert "data" not in built  # nothing held in the session's memory: a folder and a ZIP on disk
    assert load_shortcut(built["folder"]).neurons == [res.shortcut_neuron_id]
    with zipfile.ZipFile(built["zip"]) as zf:
        names = zf.namelist()
        card = json.loads(zf.read(next(n for n in names if n.endswith("card.json"))))
    assert any(n.endswith(".onnx") for n in names) and Path(built["zip"]).stat().st_size == built["zip_bytes"]
    assert res.shortcut_neuron_id in json.dumps(card)


def test_playground_export_error_is_one_message(res, monkeypatch):
    import sn_core.shortcut.export as ex
    from sn_core.shortcut.card import ShortcutError

    def refuse(*a, **k):
        raise ShortcutError("onnxruntime is not installed: pip install onnxruntime")

    monkeypatch.setattr(ex, "export_shortcut", refuse)
    import shutil

    from sn_core.store import default_root

    shutil.rmtree(default_root() / "shortcuts", ignore_errors=True)  # an earlier export would be reused
    at = open_page("playground", **{sn_app.SEARCH: res.key})
    at.button(key="ee_export").click().run()
    assert_clean(at)
    assert any("onnxruntime is not installed" in e for e in errors(at))

"""Benchmarks and Hugging Face datasets in the app (AppTest): the Search page's "benchmark or dataset folder"
source shows the detected format, subsets and row count before a search, runs it, and every fixture's search
reopens in the app; server paths stay behind the allowed-roots setting."""
from __future__ import annotations

import pytest
from apphelpers import SEARCH_TIMEOUT, assert_clean, errors, new_app, open_page

import sn_app
from sn_core.data import server_paths as SP
from tests.helpers import benchmark_fixtures as fx

SOURCE = "benchmark or dataset folder"


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-app")
    return root, fx.write_all(root)


@pytest.fixture
def allowed(fixtures, monkeypatch):
    monkeypatch.setenv(SP.ALLOWED_ROOTS_ENV, str(fixtures[0]))
    return fixtures[0]


def _captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_benchmark_folder_shows_format_subsets_and_rows_then_searches(allowed):
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    at.radio(key="task_source").set_value(SOURCE).run()
    assert_clean(at)
    at.text_input(key="bench_path").set_value(str(allowed / "clevr")).run()
    assert_clean(at)
    assert not errors(at), errors(at)
    assert "Detected **CLEVR**, subset **yesno**: 16 usable rows of 64 read; classes: no, yes." in _captions(at)
    assert at.selectbox(key="bench_subset").options == ["yesno", "color", "shape", "material", "size", "count"]
    at.selectbox(key="bench_subset").set_value("color").run()
    assert "subset **color**: 16 usable rows of 64 read; classes: blue, green, red, yellow." in _captions(at)
    at.number_input(key="bench_n").set_value(16)
    at.number_input(key="probe_per_class").set_value(3)
    at.multiselect(key="layers").set_value([0, 1])
    at.checkbox(key="baselines").uncheck()
    at.button(key="run_search").click().run(timeout=SEARCH_TIMEOUT)
    assert_clean(at)
    assert not errors(at), errors(at)
    key = at.session_state[sn_app.SEARCH]
    assert at.session_state[sn_app.TASK_LABEL] == "clevr-color"
    lm = open_page("layer_map", **{sn_app.SEARCH: key})
    assert_clean(lm)


def test_multiple_choice_folder_says_so(allowed):
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    at.radio(key="task_source").set_value(SOURCE).run()
    at.text_input(key="bench_path").set_value(str(allowed / "aokvqa-official" / "aokvqa")).run()
    at.text_input(key="bench_images").set_value(str(allowed / "aokvqa-official" / "coco")).run()
    assert_clean(at)
    assert "Detected **A-OKVQA**: 24 usable rows of 24 read; multiple choice" in _captions(at), _captions(at)


def test_hugging_face_dataset_offers_its_splits(allowed):
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    at.radio(key="task_source").set_value(SOURCE).run()
    at.text_input(key="bench_path").set_value(str(allowed / "hf-parquet")).run()
    assert_clean(at)
    assert at.selectbox(key="bench_split").options == ["train", "validation"]
    assert at.selectbox(key="bench_split").value == "validation"
    assert "Detected **Hugging Face dataset**: 24 usable rows of 24 read; classes: blue, green, red." in _captions(at)
    at.selectbox(key="bench_split").set_value("train").run()
    assert ": 9 usable rows of 9 read" in _captions(at)


def test_bad_folders_are_refused_with_one_error(allowed, tmp_path, monkeypatch):
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    at.radio(key="task_source").set_value(SOURCE).run()
    (allowed / "empty-dir").mkdir(exist_ok=True)
    at.text_input(key="bench_path").set_value(str(allowed / "empty-dir")).run()
    assert_clean(at)
    (msg,) = errors(at)
    assert "matches no dataset format" in msg and "CLEVR: " in msg and str(allowed) not in msg.replace(
        str(allowed / "empty-dir"), "")
    at.text_input(key="bench_path").set_value(str(tmp_path)).run()  # outside the allowed folder
    (msg,) = errors(at)
    assert "is not readable from the app" in msg
    # a benchmark inside the allowed folder whose images folder links outside it
    import shutil

    outside = tmp_path / "outside-images"
    shutil.copytree(allowed / "clevr" / "CLEVR_v1.0" / "images", outside)
    linked = allowed / "clevr-linked"
    if not linked.exists():
        (linked / "questions").mkdir(parents=True)
        shutil.copy(allowed / "clevr" / "CLEVR_v1.0" / "questions" / "CLEVR_val_questions.json", linked / "questions")
        (linked / "images").symlink_to(outside, target_is_directory=True)
    at.text_input(key="bench_path").set_value(str(linked)).run()
    assert_clean(at)
    (msg,) = errors(at)
    assert "its images must be inside the allowed folders" in msg and str(outside) not in msg
    at.text_input(key="bench_path").set_value(str(allowed / "clevr")).run()
    at.text_input(key="bench_images").set_value(str(outside)).run()  # an images folder outside: refused too
    (msg,) = errors(at)
    assert "images folder" in msg and "is not readable from the app" in msg
    monkeypatch.delenv(SP.ALLOWED_ROOTS_ENV)
    off = new_app().run(timeout=SEARCH_TIMEOUT)
    off.radio(key="task_source").set_value(SOURCE).run()
    assert any("Server paths are turned off" in i.value for i in off.info)


@pytest.mark.parametrize("name", ["pope", "clevr", "aokvqa", "scienceqa", "vizwiz", "instaorder", "hf-parquet",
                                  "hf-disk"])
def test_each_fixture_search_reopens_in_the_app(fixtures, name, cache_dir):
    from sn_core.config import SearchConfig
    from sn_core.search import run_search

    _, args = fixtures
    res = run_search(SearchConfig(task=args[name], n_examples=16, probe_per_class=3, layers=(0, 1),
                                  baselines=False), loaded=sn_app.get_model("demo"), root=str(cache_dir))
    at = open_page(None, **{sn_app.SEARCH: res.key})
    assert_clean(at)
    assert at.dataframe(key="top_table").value is not None
    for page in ("neuron_inspector", "playground"):
        assert_clean(open_page(page, **{sn_app.SEARCH: res.key}))

"""The app under load: several sessions predicting at once while another session runs a search.

Streamlit runs every browser session's script in its own thread of one server process, sharing
``st.cache_resource`` objects (here: the one demo model). This test does the same with one AppTest per session,
each in its own thread: three playground sessions answer test images (early exit + full generation) twice each
while a fourth session runs a search through the Search page. It checks that

- nothing fails: no exception element, no ``st.error`` in any session, the search finishes;
- concurrent sessions get the values a lone session gets (tracing hooks on the shared model never mix
  sessions), and the concurrent search's scores equal the same search run alone;
- there is one model in memory: ``get_model`` returns the same object and ``load_model`` is not called again;
- memory is bounded: a second identical round of load grows the process RSS by less than ``LEAK_MB``.

Why ``LEAK_MB = 64``: once the first round has warmed every code path (torch's per-thread buffers, glibc's
per-thread arenas, Streamlit's per-session state), a second identical round should allocate nothing that stays.
64 MB leaves room for allocator noise yet is far below what a leak per request would accumulate (a kept
activation batch or a second copy of the model is >= 15 MB per session per round here, x6 requests) and
below one more copy of the demo model's weights + optimiser-free buffers (about 16 MB) x 4 sessions.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from apphelpers import SEARCH_TIMEOUT, errors, new_app, open_page

import sn_app

pytestmark = pytest.mark.reliability

N_PREDICTORS = 3
ROUNDS = 2
LEAK_MB = 64
BUDGET_S = 600  # a hang must fail the test, not the CI job


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@pytest.fixture(scope="module")
def search_key():
    from sn_core.config import SearchConfig
    from sn_core.search.run import run_search

    loaded = sn_app.get_model("demo")  # the cache entry every page uses
    cfg = SearchConfig(model="demo", task="shapes-color", n_examples=48, probe_per_class=6, layers=(0, 1),
                       baselines=False)
    return run_search(cfg, loaded=loaded).key


def _problems(at) -> list[str]:
    """What went wrong in a session, with the stack trace of any exception (so a rare failure can be diagnosed
    from the CI log alone)."""
    return ([f"exception: {e.value}\n" + "\n".join(e.stack_trace) for e in at.exception]
            + [f"error: {e}" for e in errors(at)])


def _predict_session(key: str, example: int, out: dict, name: str) -> None:
    try:
        at = open_page("playground", **{sn_app.SEARCH: key})
        at.number_input(key="ee_example").set_value(example)
        at.slider(key="ee_repeats").set_value(1)
        at.button(key="ee_go").click().run(timeout=SEARCH_TIMEOUT)
        out[name] = {"problems": _problems(at), "last": at.session_state["ee_last"]
                     if "ee_last" in at.session_state else None}
    except BaseException as e:  # noqa: BLE001 - reported by the main thread
        out[name] = {"problems": [f"{type(e).__name__}: {e}"], "last": None}


def _search_session(settings: dict, out: dict) -> None:
    try:
        at = new_app().run(timeout=SEARCH_TIMEOUT)
        at.number_input(key="n_examples").set_value(settings["n_examples"])
        at.number_input(key="probe_per_class").set_value(settings["probe_per_class"])
        at.multiselect(key="layers").set_value(list(settings["layers"]))
        at.number_input(key="seed").set_value(settings["seed"])
        at.checkbox(key="baselines").uncheck()
        at.button(key="run_search").click().run(timeout=SEARCH_TIMEOUT)
        out["search"] = {"problems": _problems(at), "key": at.session_state[sn_app.SEARCH]
                         if sn_app.SEARCH in at.session_state else None,
                         "finished": any("finished" in s.value for s in at.success)}
    except BaseException as e:  # noqa: BLE001
        out["search"] = {"problems": [f"{type(e).__name__}: {e}"], "key": None, "finished": False}


def _round(key: str, search: dict | None) -> dict:
    out: dict = {}
    threads = [threading.Thread(target=_predict_session, args=(key, 3 * i, out, f"p{i}"), daemon=True)
               for i in range(N_PREDICTORS)]
    if search is not None:
        threads.append(threading.Thread(target=_search_session, args=(search, out), daemon=True))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, BUDGET_S - (time.monotonic() - t0)))
    assert not [t for t in threads if t.is_alive()], "a session hung"
    return out


def test_reliability_concurrent_sessions_predict_while_a_search_runs(search_key, one_runtime, monkeypatch, tmp_path):
    import sn_core.models as models
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.search.run import SearchResult, run_search

    loaded = sn_app.get_model("demo")
    loads = []
    real_load = models.load_model
    monkeypatch.setattr(models, "load_model", lambda *a, **k: loads.append(a) or real_load(*a, **k))

    # Warm-up: one lone session exercises every code path once.
    warm = _round(search_key, None)
    assert all(not v["problems"] for v in warm.values()), warm
    rss_warm = _rss_mb()

    search = dict(n_examples=48, probe_per_class=5, layers=(0, 1, 2), seed=1)
    results = []
    for rnd in range(ROUNDS):
        out = _round(search_key, search if rnd == 0 else None)
        bad = {k: v["problems"] for k, v in out.items() if v["problems"]}
        assert not bad, bad
        results.append(out)
        if rnd == 0:
            rss_after_first = _rss_mb()
    rss_end = _rss_mb()

    # The search finished and equals the same search run alone (fresh store, same model object).
    s = results[0]["search"]
    assert s["finished"] and s["key"], s
    from sn_core.config import SearchConfig

    alone = run_search(SearchConfig(model="demo", task="shapes-color", n_examples=48, probe_per_class=5,
                                    layers=(0, 1, 2), seed=1, baselines=False), loaded=loaded, root=tmp_path)
    assert alone.key == s["key"]
    np.testing.assert_array_equal(SearchResult.load(s["key"]).scores("mlp"),
                                  SearchResult.load(alone.key, root=tmp_path).scores("mlp"))

    # Every concurrent prediction equals what a lone predictor computes for the same image and question.
    res = SearchResult.load(search_key)
    pred = EarlyExitPredictor(loaded, res.classifier(), instruction=res.task.instruction)
    test_idx = np.asarray(res.split.test)
    for out in results:
        for name, v in out.items():
            if name == "search":
                continue
            last = v["last"]
            i = int(name[1:])
            ex = res.task.examples[int(test_idx[3 * i])]
            want = pred.predict(ex.image, last["question"])
            assert last["label"] == want.label, (name, last, want)
            for nid, value in last["values"].items():
                assert value == pytest.approx(want.values[nid], rel=1e-5, abs=1e-5), (name, nid)
            assert last["answer"] is not None  # the full model answered too

    # One model in memory, never reloaded by any session.
    assert not loads, f"load_model called again: {loads}"
    assert sn_app.get_model("demo", "cpu", None) is loaded
    # Bounded memory: the second round (same work, warmed up) keeps (almost) nothing.
    growth = rss_end - rss_after_first
    print(f"RSS MB: warm {rss_warm:.0f}, after round 1 (+search) {rss_after_first:.0f}, end {rss_end:.0f}")
    assert growth < LEAK_MB, f"RSS grew {growth:.0f} MB in a warmed-up round (warm {rss_warm:.0f} MB, " \
                             f"after round 1 {rss_after_first:.0f} MB, end {rss_end:.0f} MB)"

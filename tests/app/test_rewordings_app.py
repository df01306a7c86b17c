"""The Robustness page refuses a rewording with a format spec, a conversion or attribute access in one error box, as
the CLI does (both call ``sn_core.reports.rewordings.parse_rewordings``): no report is computed, no memory is spent on a
100 MB question, and the text is not evaluated (``{question.__class__}`` is not echoed back as ``<class 'str'>``)."""
from __future__ import annotations

import pytest
from apphelpers import SEARCH_TIMEOUT, SMALL, assert_clean, errors, open_page

import sn_app

pytestmark = pytest.mark.security


@pytest.fixture(scope="module")
def key(cache_dir):
    from sn_core.config import SearchConfig
    from sn_core.search import run_search

    cfg = SearchConfig(**{k: v for k, v in SMALL.items()})
    return run_search(cfg, loaded=sn_app.get_model("demo"), root=str(cache_dir)).key


@pytest.mark.parametrize("text", ["{question:>1000000}", "{question.__class__} | Answer.",
                                  "What color is it?\n{question!r}"])
def test_security_robustness_page_refuses_format_specs_in_rewordings(key, text):
    at = open_page("robustness", **{sn_app.SEARCH: key})
    assert_clean(at)
    at.number_input(key="rb_max_examples").set_value(8)
    area = next(a for a in at.text_area if a.key.startswith("rb_rewordings_"))
    area.set_value(text)
    at.button(key="rb_run").click().run(timeout=SEARCH_TIMEOUT)
    assert_clean(at)
    errs = errors(at)
    assert any("Rewordings" in e and ("write it bare" in e or "unknown placeholder" in e) for e in errs), errs
    assert not any("failed unexpectedly" in e for e in errs), errs
    assert key not in (at.session_state[sn_app.ROBUSTNESS] if sn_app.ROBUSTNESS in at.session_state else {})
    assert not any("<class" in m.value for m in at.markdown), "the rewording was evaluated"

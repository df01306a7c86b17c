"""User text stays text (issue 23, items 2 and 8).

Reproduction of the hostile test: ``?neuron=`` text and a task's labels were rendered as Markdown, so
``/neuron_inspector?search=KEY&neuron=Session expired. [Click here to log in again](http://HOST/phish)`` showed a live
link and fetched an image from the attacker's host, and a task whose labels were ``![r](http://HOST/label_red.png)``
gave 8 links, 8 images and 5 remote requests on the Neuron inspector. And with allowed roots set, ``models/x`` in the
model field was looked up as a hub id (or in the server's working directory), not inside the first allowed root.

- a property test: arbitrary and adversarial strings through ``md``, ``code`` and every helper that builds a page's
  Markdown from user text render to exactly that text, with no link, image or HTML, no bare URL or e-mail address
  left in the rendered text (Streamlit links those after parsing, escaped or not: the browser test found it), and
  no unescaped ``:``, ``@``, ``$`` or ``www.`` (GitHub autolinks, Streamlit directives, LaTeX) added to the
  Markdown source;
- the figures: payload labels, conditions and task names enter Plotly as text, never as ``<a>`` / ``<img>``;
- the pages (AppTest): a stored search of a task whose labels, question and file name are payloads, with payloads in
  ``?neuron=`` / ``?search=``, a rewording and a reworded instruction, on the inspector, playground, layer map,
  Compare, Robustness, Atlas and Search pages and the sidebar: no element's Markdown renders a link or image the
  project did not write;
- the model field: a relative path is looked up inside the first allowed root, whatever the working directory.
"""
from __future__ import annotations

import html
from types import SimpleNamespace

import pytest
from apphelpers import SEARCH_TIMEOUT, assert_clean, new_app, shown
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from injection import (ADVERSARIAL, HOST, LABELS, LINK, NEURON_PAYLOAD, QUESTION, SEARCH_PAYLOAD, outside_code,
                       payload_search, plotly_html_tags, rendered_text, targets, text_autolinks, unescaped,
                       write_payload_task)

import sn_app
from sn_app.errors import error_line, unexpected_line
from sn_app.text import code, md
from sn_app.widgets import sidebar_markdown
from sn_core.data import server_paths as SP

pytestmark = pytest.mark.security

# Links the project itself writes on the pages below (none today; the About page's paper link is not opened here).
PROJECT_TARGETS: set[str] = set()
# What a payload would leave in Markdown if it were not escaped: the attacker's host (links, images, autolinks,
# e-mail), Streamlit's directives and LaTeX.
RAW = (HOST, ":red[", ":material/", "$x$")


def _normal(text: str) -> str:
    return " ".join(str(text).replace("\0", "\ufffd").replace("\u2060", "").split())  # the joiner has no width


# ------------------------------------------------------------------------------------------------ property test
MARKUP = st.sampled_from(list("[]()!<>`*_:@$./#-|~\\&;=+{}\"' \n\t") + ["http://", "HTTPS://", "www.", "a@b.cd", "<a href=", "<img src=",
                                                                        ":red[", ":material/", "$$", "```", "\u2028"])
TEXTS = st.one_of(st.sampled_from(ADVERSARIAL), st.text(max_size=60),
                  st.lists(st.one_of(MARKUP, st.sampled_from(ADVERSARIAL), st.text(max_size=4)), max_size=12).map("".join))


class _Summary(SimpleNamespace):
    pass


def _helpers():
    """Every helper that builds Markdown from user text, as ``value -> Markdown``."""
    def summary(v):
        return _Summary(task=v, n_classes=2, n_probe=8, n_test=12, sn_neuron_id=v)

    return {
        "md": md,
        "code": code,
        "guarded error": lambda v: error_line(v, ValueError(v)),
        "guarded unexpected": lambda v: unexpected_line(v, RuntimeError(v)),
        "sidebar (search)": lambda v: sidebar_markdown(v, summary(v), key=v, neuron=v),
        "sidebar (no search)": lambda v: sidebar_markdown(v, None, task_label=v),
        "classifier option": lambda v: md(f"the inspector's neuron ({v})"),  # the radio's format_func
    }


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_security_user_text_renders_literally_through_every_helper(value):
    want = _normal(value)
    for name, helper in _helpers().items():
        source = helper(value)
        assert not targets(source), (name, value, source)
        assert not text_autolinks(source), (name, value, source, text_autolinks(source))
        assert _normal(rendered_text(source)).count(want) >= 1, (name, value, source, rendered_text(source))
        assert "<a" not in markdown_html(source) and "<img" not in markdown_html(source), (name, value, source)
        # no unescaped autolink / directive / LaTeX character beyond those the helper's own template holds
        assert unescaped(source) == unescaped(helper("x")), (name, value, source)
    for source in (md(value), code(value)):  # the two primitives render to exactly the value
        assert _normal(rendered_text(source)) == want, (value, source)
        assert unescaped(source) == {":": 0, "@": 0, "$": 0, "www.": 0}, (value, source)
    assert shown(md(value)) == _normal(value)  # what the tests' own reader of messages sees


def markdown_html(source: str) -> str:
    from injection import markdown_it

    return markdown_it().render(str(source))


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_security_plotly_text_is_plain(value):
    from sn_core.plots.style import plain

    out = plain(value)
    assert "<" not in out and ">" not in out
    assert html.unescape(out) == str(value)


def test_security_figures_draw_payload_labels_as_text():
    import numpy as np
    import pandas as pd

    from sn_core.plots import report_figures as rf
    from sn_core.plots import search_figures as sf

    labels = [LABELS[0], LABELS[1], ADVERSARIAL[2]]
    rng = np.random.default_rng(0)
    y = np.array([labels[i % 3] for i in range(30)])
    figs = {
        "histograms": sf.class_histograms({"probe": (rng.normal(size=30), y)}, labels, threshold=0.0,
                                          title=f"Value of {sf.plain(NEURON_PAYLOAD)}"),
        "confusion": sf.confusion_matrix(y, np.roll(y, 1), labels),
        "accuracy": sf.accuracy_bars(pd.DataFrame({"method": [LINK, "base"], "test_accuracy": [0.5, 0.6]})),
        "reworded": sf.robustness_bars(pd.DataFrame({"prompt": [QUESTION, "original"], "method": [LINK, "x"],
                                                     "test_accuracy": [0.5, 0.6]})),
        "conditions": rf.robustness_conditions(pd.DataFrame({
            "condition": [QUESTION, "blank image"], "kind": ["rewording", "control"], "neuron_accuracy": [0.5, 0.4],
            "neuron_ci_low": [0.3, 0.2], "neuron_ci_high": [0.7, 0.6], "neuron_flag": [ADVERSARIAL[2], None]})),
        "atlas": rf.atlas_heatmap(pd.DataFrame([[1.0, 2.0]], index=[ADVERSARIAL[2]], columns=[0, 1]), "mlp"),
    }
    for name, fig in figs.items():
        spec = fig.to_json()
        assert not plotly_html_tags(spec), (name, plotly_html_tags(spec))
        if name != "accuracy":  # each other figure draws the HTML payload, as text
            assert "&lt;a href" in spec, name


# ------------------------------------------------------------------------------------------------------ pages
def _walk(node):
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _walk(child)


MD_FIELDS = {"body", "label", "help", "caption", "captions", "text"}
MD_OPTIONS = {"Radio", "ButtonGroup"}  # widgets whose options Streamlit renders as Markdown


def _strings(msg, owner: str):
    """(field, text) of every Markdown-rendered string field in a proto message, recursively."""
    for field, value in msg.ListFields():
        name = field.name
        many = hasattr(value, "__iter__") and not isinstance(value, (str, bytes)) and not hasattr(value, "ListFields")
        items = list(value) if many else [value]
        if field.message_type is not None:
            for item in items:
                if hasattr(item, "ListFields"):
                    yield from _strings(item, item.DESCRIPTOR.name)
            continue
        if name in MD_FIELDS or (name == "options" and owner in MD_OPTIONS):
            for v in items:
                if isinstance(v, str) and v:
                    yield f"{owner}.{name}", v


def check_page(at, where: str) -> int:
    """No element of the page renders a link or image the project did not write, and no payload survives as raw
    Markdown outside code spans; Plotly figures hold no ``<a>`` / ``<img>``. Returns how many strings were checked."""
    assert_clean(at)
    n = 0
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "ListFields"):
            continue
        if proto.DESCRIPTOR.name == "PlotlyChart":
            assert not plotly_html_tags(proto.spec), (where, plotly_html_tags(proto.spec))
            continue
        if proto.DESCRIPTOR.name in ("Arrow", "Json", "Exception"):
            continue  # plain text cells / JSON (exceptions: assert_clean)
        for field, source in _strings(proto, proto.DESCRIPTOR.name):
            n += 1
            bad = [t for t in targets(source) if t not in PROJECT_TARGETS]
            assert not bad, (where, field, source, bad)
            assert not text_autolinks(source), (where, field, source, text_autolinks(source))
            raw = [r for r in RAW if r in outside_code(source)]
            assert not raw, (where, field, source, raw)
    return n


@pytest.fixture(scope="module")
def payload(tmp_path_factory, cache_dir):
    manifest = write_payload_task(tmp_path_factory.mktemp("payload"))
    return payload_search(cache_dir, manifest)


def test_security_payloads_on_every_page_stay_text(payload):
    res = payload
    at = new_app()
    at.query_params["search"] = res.key
    at.query_params["neuron"] = NEURON_PAYLOAD
    at.run()
    seen = {"search": check_page(at, "search")}
    # the payloads reach the pages: the sidebar names the payload neuron, the inspector says why it is no neuron
    assert NEURON_PAYLOAD in shown(at.sidebar.markdown[-1].value.replace("`", ""))
    for page in ("neuron_inspector", "layer_map", "compare", "robustness", "atlas", "playground"):
        at.session_state[sn_app.NEURON] = NEURON_PAYLOAD
        at.switch_page(f"app_pages/{page}.py").run()
        seen[page] = check_page(at, page)
        if page == "neuron_inspector":
            assert any("Neuron id" in e.value and "Session expired" in shown(e.value) for e in at.error)
            assert any(LABELS[0] in shown(c.value) or QUESTION[:20] in shown(c.value) for c in at.caption)
    # playground: the prediction (a payload label) and the true label in metric and captions
    at.slider(key="ee_repeats").set_value(1)
    at.button(key="ee_go").click().run(timeout=SEARCH_TIMEOUT)
    seen["playground answered"] = check_page(at, "playground answered")
    assert shown(next(m.value for m in at.metric if m.label == "Prediction")) in LABELS
    # Compare: a reworded instruction that is a payload (a second search)
    at.switch_page("app_pages/compare.py").run()
    reworded = f"[One](http://{HOST}/w) word."  # short: the payload question already fills most of the context
    at.text_input(key="cmp_instr").set_value(reworded).run()
    at.button(key="cmp_robust").click().run(timeout=SEARCH_TIMEOUT)
    seen["compare reworded"] = check_page(at, "compare reworded")
    assert any(reworded in shown(c.value) for c in at.caption), ([shown(e.value) for e in at.error], [c.value for c in at.caption])
    # Robustness: a rewording that is a payload (accepted, or refused with the payload in the error)
    at.switch_page("app_pages/robustness.py").run()
    at.text_area(key=f"rb_rewordings_{res.key[:16]}").set_value(f"{{question}} {LINK} | {QUESTION}")
    at.checkbox(key="rb_shifted").set_value(False)
    at.checkbox(key="rb_base").set_value(False)
    at.multiselect(key="rb_controls").set_value([])
    at.number_input(key="rb_max_examples").set_value(4)
    at.button(key="rb_run").click().run(timeout=SEARCH_TIMEOUT)
    seen["robustness run"] = check_page(at, "robustness run")
    assert all(n > 5 for n in seen.values()), seen


def test_security_markdown_in_the_search_parameter_stays_text(payload):
    at = new_app()
    at.query_params["search"] = SEARCH_PAYLOAD
    at.query_params["neuron"] = NEURON_PAYLOAD
    at.run()
    check_page(at, "search parameter")
    assert any("not a search key" in e.value for e in at.error)


# ------------------------------------------------------------------------------------------------- model field
@pytest.fixture
def roots_and_elsewhere(tmp_path, monkeypatch):
    """An allowed root holding ``models/x``; the working directory elsewhere, holding ``org/name``."""
    root, cwd = tmp_path / "root", tmp_path / "cwd"
    (root / "models" / "x").mkdir(parents=True)
    (cwd / "org" / "name").mkdir(parents=True)
    (cwd / "models" / "y").mkdir(parents=True)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv(SP.ALLOWED_ROOTS_ENV, str(root))
    return root, cwd


def test_security_relative_model_path_is_looked_up_inside_the_first_root(roots_and_elsewhere, monkeypatch):
    root, cwd = roots_and_elsewhere
    # inside the first allowed root: a folder, resolved there
    assert sn_app.model_source("models/x") == str((root / "models" / "x").resolve())
    # a hub-shaped name absent from the root stays a hub id, even where the working directory holds it
    assert sn_app.model_source("org/name") == "org/name"
    assert sn_app.model_source("models/y") == "models/y"
    # a path that is no hub id follows the server-path rule inside the root, never the working directory
    with pytest.raises(ValueError, match="not found"):
        sn_app.model_source("./org/name")
    # no allowed root: a hub-shaped name is a hub id wherever the server runs
    monkeypatch.delenv(SP.ALLOWED_ROOTS_ENV)
    assert sn_app.model_source("models/y") == "models/y"
    assert sn_app.model_source("org/name") == "org/name"

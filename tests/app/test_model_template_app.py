"""A model folder whose chat template raises (``{{ raise_exception('boom') }}``), typed into the Search page's model
field inside an allowed server folder: one error box naming the model and the template's message (the
``UnknownModelError`` the CLI prints), never "failed unexpectedly" and never a traceback."""
from __future__ import annotations

import pytest
from apphelpers import SEARCH_TIMEOUT, assert_clean, errors, new_app

from sn_core.data import server_paths as SP

pytestmark = pytest.mark.reliability


def test_reliability_raising_chat_template_is_one_error_box(tmp_path, monkeypatch):
    from sn_core.models.tiny import save_tiny_vlm

    folder = save_tiny_vlm("llava", tmp_path / "allowed" / "boom-model", n_layers=2, seed=0)
    (folder / "chat_template.jinja").write_text("{{ raise_exception('boom') }}", encoding="utf-8")
    monkeypatch.setenv(SP.ALLOWED_ROOTS_ENV, str(tmp_path / "allowed"))
    at = new_app().run(timeout=SEARCH_TIMEOUT)
    at.radio(key="model_mode").set_value("local folder or cached hub id").run()
    at.text_input(key="model_path").set_value(str(folder)).run(timeout=SEARCH_TIMEOUT)
    if any(b.key == "run_search" for b in at.button) and not errors(at):  # the model is read at Run
        at.number_input(key="probe_per_class").set_value(2)
        at.button(key="run_search").click().run(timeout=SEARCH_TIMEOUT)
    assert_clean(at)
    errs = errors(at)
    assert any("chat template of model" in e and "fails: boom" in e for e in errs), errs
    assert not any("failed unexpectedly" in e for e in errs), errs

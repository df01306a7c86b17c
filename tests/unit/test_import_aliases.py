"""Every import path of the release before the package tree still works for one release (sn_core/_compat.py): each
former module imports, is the very module object of its new home (patches and isinstance agree), says where it
moved with a DeprecationWarning, and still offers every public name it offered (fixtures/old_public_names.json,
captured from that release)."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from sn_core._compat import OLD_PATHS

REPO = Path(__file__).resolve().parents[2]
OLD_NAMES: dict[str, list[str]] = json.loads((Path(__file__).parent / "fixtures" / "old_public_names.json")
                                             .read_text(encoding="utf-8"))


def test_the_table_covers_every_former_module_that_moved():
    gone = {m for m in OLD_NAMES if importlib.util.find_spec(m.rpartition(".")[0] or m) is not None
            and not (REPO.joinpath(*m.split(".")).with_suffix(".py").is_file()
                     or REPO.joinpath(*m.split("."), "__init__.py").is_file())}
    assert gone <= set(OLD_PATHS), f"former modules with no alias: {sorted(gone - set(OLD_PATHS))}"


@pytest.mark.parametrize("old", sorted(OLD_NAMES))
def test_every_former_path_imports_with_its_public_names(old):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mod = importlib.import_module(old)
    if old in OLD_PATHS:
        assert mod is importlib.import_module(OLD_PATHS[old])
        assert any(issubclass(w.category, DeprecationWarning) and OLD_PATHS[old] in str(w.message)
                   for w in caught) or old in sys.modules  # warned on first import (earlier tests may import it)
    missing = [n for n in OLD_NAMES[old] if not hasattr(mod, n)]
    assert not missing, f"{old} lost public names: {missing}"


def test_from_import_of_a_former_module_gives_the_new_one():
    from sn_core import extract  # noqa: F401  (the former module name, as an attribute import)
    from sn_core.activations import Trace

    assert extract.Trace is Trace


@pytest.mark.parametrize("old_main", ["sn_core.demo_model", "sn_core.tiny_models"])
def test_former_entry_points_still_run(old_main):
    proc = subprocess.run([sys.executable, "-m", old_main, "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout

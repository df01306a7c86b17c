"""Old import paths, kept for one release: every module that moved into a package is still importable under its
former name (``import sn_core.extract`` gives ``sn_core.activations``), with a DeprecationWarning that names the
new path. ``python -m`` on a former entry point runs the new one. The table is the whole mechanism; the test
``tests/unit/test_import_aliases.py`` imports every entry."""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

OLD_PATHS: dict[str, str] = {
    "sn_core.artifact": "sn_core.classifier.artifact",
    "sn_core.atlas": "sn_core.reports.atlas",
    "sn_core.baselines": "sn_core.search.baselines",
    "sn_core.claims_table": "sn_core.reports.claims",
    "sn_core.cli_common": "sn_core.cli.common",
    "sn_core.cli_export": "sn_core.cli.export",
    "sn_core.cli_predict": "sn_core.cli.predict",
    "sn_core.cli_reports": "sn_core.cli.reports",
    "sn_core.cli_search": "sn_core.cli.search",
    "sn_core.data.digits": "sn_core.data.bundled.digits",
    "sn_core.data.shapes": "sn_core.data.bundled.shapes",
    "sn_core.data.shifted": "sn_core.data.bundled.shifted",
    "sn_core.data.unseen": "sn_core.data.bundled.unseen",
    "sn_core.demo_model": "sn_core.demo",
    "sn_core.demo_model_card": "sn_core.demo.card",
    "sn_core.demo_training": "sn_core.demo.training",
    "sn_core.distributed": "sn_core.cli.distributed",
    "sn_core.early_exit": "sn_core.shortcut.early_exit",
    "sn_core.extract": "sn_core.activations",
    "sn_core.flops": "sn_core.models.flops",
    "sn_core.images": "sn_core.data.images",
    "sn_core.metrics": "sn_core.scoring.metrics",
    "sn_core.models._family_common": "sn_core.models.families._common",
    "sn_core.models.gemma3": "sn_core.models.families.gemma3",
    "sn_core.models.llava": "sn_core.models.families.llava",
    "sn_core.models.llava_onevision": "sn_core.models.families.llava_onevision",
    "sn_core.models.qwen2_5_vl": "sn_core.models.families.qwen2_5_vl",
    "sn_core.models.qwen2_vl": "sn_core.models.families.qwen2_vl",
    "sn_core.models.qwen3_vl": "sn_core.models.families.qwen3_vl",
    "sn_core.models.smolvlm": "sn_core.models.families.smolvlm",
    "sn_core.plots_claims": "sn_core.plots.report_figures",
    "sn_core.plots_neuron": "sn_core.plots.neuron",
    "sn_core.plots_style": "sn_core.plots.style",
    "sn_core.probe_curve": "sn_core.reports.probe_curve",
    "sn_core.prompts": "sn_core.models.prompts",
    "sn_core.ranking": "sn_core.scoring.ranking",
    "sn_core.result": "sn_core.search.result",
    "sn_core.rewordings": "sn_core.reports.rewordings",
    "sn_core.robustness": "sn_core.reports.robustness",
    "sn_core.search_plan": "sn_core.search.plan",
    "sn_core.stats": "sn_core.scoring.stats",
    "sn_core.store_io": "sn_core.store.io",
    "sn_core.stumps": "sn_core.scoring.stumps",
    "sn_core.summary": "sn_core.search.summary",
    "sn_core.timing": "sn_core.shortcut.timing",
    "sn_core.tiny_models": "sn_core.models.tiny",
    "sn_core.uncertainty": "sn_core.search.uncertainty",
}
MAIN_ENTRY = {"sn_core.demo_model": "sn_core.demo.__main__"}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, old: str, new: str):
        self.old, self.new = old, new

    def create_module(self, spec):
        warnings.warn(f"{self.old} moved to {self.new}; the old path goes in a later release",
                      DeprecationWarning, stacklevel=4)
        return importlib.import_module(self.new)  # the same module object: patches and isinstance agree

    def exec_module(self, module) -> None:
        pass  # already executed under its new name

    def get_code(self, fullname: str):  # python -m <old path>
        target = MAIN_ENTRY.get(self.old, self.new)
        return importlib.util.find_spec(target).loader.get_code(target)


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        new = OLD_PATHS.get(fullname)
        if new is None:
            return None
        target = importlib.util.find_spec(MAIN_ENTRY.get(fullname, new))  # its file: runpy's sys.argv[0]
        return importlib.util.spec_from_loader(fullname, _AliasLoader(fullname, new),
                                               origin=target.origin if target else None)


def install() -> None:
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())

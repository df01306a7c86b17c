"""Super Neuron Explorer: find single neurons of a vision-language model that classify categorical VQA answers,
and use them as training-free early-exit classifiers (arXiv 2603.10781). The method as implemented: docs/method.md."""
from pathlib import Path

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
ASSETS_DIR = REPO_DIR / "assets"
DEMO_MODEL_DIR = ASSETS_DIR / "demo-vlm"

from sn_core import _compat  # noqa: E402  (old module paths, one release)

_compat.install()

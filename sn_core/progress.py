"""The one progress protocol of long work: ``progress(stage, done, total)``, called by extraction, scoring,
baselines, generation, timing and the reports; the CLI draws it with tqdm, the app with a progress bar. Stages:
``load``, ``extract``, ``score``, ``baselines``, ``generate``, ``timing``, ``robustness``, ``probe-curve``."""
from __future__ import annotations

from typing import Callable

Progress = Callable[[str, int, int], None]

"""Fixtures shared by the family tests on the CPU (``tests/integration/test_families.py``) and on a GPU
(``tests/gpu/test_cuda.py``): the tiny random-weight model of every family, written once per session, the images,
and the prompts (two question lengths, so a batch is really left padded) they read the models with."""
from __future__ import annotations

import pytest

FAMILY_QUESTIONS = ["What color is the shape?", "Is there a red circle in the image? What color is the shape?"]


@pytest.fixture(scope="session")
def family_folders(tmp_path_factory):
    """family -> folder of its tiny model (``sn_core.models.tiny``), loadable with ``load_model``."""
    from sn_core.models.tiny import FAMILIES, save_tiny_vlm

    root = tmp_path_factory.mktemp("tiny-families")
    return {f: save_tiny_vlm(f, root / f) for f in sorted(FAMILIES)}


@pytest.fixture(scope="session")
def family_images():
    from sn_core.data import get_task

    return [ex.image for ex in get_task("shapes-color", 4, seed=3).examples]


@pytest.fixture(scope="session")
def family_prompts():
    """``family_prompts(loaded, n)``: n chat prompts in the model's template, alternating the two questions."""
    def make(loaded, n: int) -> list[str]:
        return [loaded.prompt(f"{FAMILY_QUESTIONS[i % 2]} Answer with one word.") for i in range(n)]
    return make

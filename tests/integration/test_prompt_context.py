"""A prompt longer than the model's context (question + instruction + image tokens + chat template over
``max_position_embeddings``) is refused with one clear ``PromptTooLongError`` before any activation is computed:
by ``extract`` (no chunk is written), by early exit, and by ``python -m sn_core search`` (exit 2, one line). The
demo model's context is 128 positions; a 10,000-word question used to run for minutes far past it.
"""
from __future__ import annotations

import json

import pytest

from sn_core.data import Example, Task, get_task
from sn_core.activations import PromptTooLongError, extract

pytestmark = pytest.mark.reliability

LONG = "Is the shape in this picture red or is it some other colour? " * 14  # ~870 characters, ~200 tokens


def _task(question: str) -> Task:
    base = get_task("shapes-color", 8, seed=1)
    examples = [Example(e.image, question if i == 5 else e.question, e.label) for i, e in enumerate(base.examples)]
    return Task("long-question", base.labels, examples, instruction=base.instruction)


def test_reliability_prompt_longer_than_context_is_refused_before_extraction(demo_loaded, tmp_path):
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.search.run import SearchResult  # noqa: F401  (import check: the search module loads)
    from sn_core.classifier.estimator import SuperNeuronClassifier
    import numpy as np

    with pytest.raises(PromptTooLongError, match=r"tokens.*more than the model's context of 128 positions"):
        extract(demo_loaded, _task(LONG), layers=(0,), root=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*/chunks/*")), "a chunk was computed before the refusal"
    # Short prompts still extract.
    assert extract(demo_loaded, _task("What color is the shape?"), layers=(0,), root=tmp_path / "ok").n_examples == 8

    clf = SuperNeuronClassifier(neurons=("blocks.0.mlp.hook_post[3]",)).fit(np.arange(4.0)[:, None], list("abab"))
    pred = EarlyExitPredictor(demo_loaded, clf)
    image = get_task("shapes-color", 1).examples[0].image
    with pytest.raises(PromptTooLongError, match="context of 128 positions"):
        pred.predict(image, LONG)
    assert pred.predict(image, "What color is the shape?").label in ("a", "b")


def test_reliability_cli_search_with_a_too_long_question_is_one_line(tmp_path, capsys, sn_cache):
    from sn_core.cli.main import main

    task = get_task("shapes-color", 12, seed=2)
    rows = []
    for i, ex in enumerate(task.examples):
        ex.image.save(tmp_path / f"{i}.png")
        rows.append(json.dumps({"image": f"{i}.png", "question": LONG if i == 3 else ex.question, "label": ex.label}))
    (tmp_path / "task.jsonl").write_text("\n".join(rows))
    rc = main(["search", "--task", str(tmp_path / "task.jsonl"), "--layers", "0", "--probe-per-class", "1",
               "--no-baselines", "--quiet"])
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "context of 128 positions" in lines[0]
    assert not list(sn_cache.glob("*/chunks/*"))

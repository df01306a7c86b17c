"""Per-choice scoring of a multiple-choice task (docs/datasets.md, "Letters or per-choice scoring"): one forward
per choice, with the choice appended to the question; one neuron's value (or minus it) is each choice's score and
the argmax is the answer. The neuron and sign are chosen on the probe split by that argmax's accuracy (ties: the
earlier layer, then the lower index, plus before minus), and reported on the test split.

This is an alternative to the lettered task that search, the CLI and the app use (one forward per question, classes
A-Z); it is offered from Python and measured by ``bench/multiple_choice.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEMPLATE = "{stem} {choice}"


@dataclass
class PerChoiceResult:
    neuron: str
    sign: float  # +1: the largest value wins; -1: the smallest
    probe_accuracy: float
    test_accuracy: float
    forwards_per_example: int


def per_choice_values(loaded, task, layers=None, site: str = "mlp", template: str = TEMPLATE,
                      batch_size: int = 16) -> dict[str, list[np.ndarray]]:
    """Site name -> per example a ``[n_choices, width]`` array: the activations read on each choice's prompt (the
    example's ``meta["stem"]`` and ``meta["choices"]``, as ``sn_core.data.choices`` writes them)."""
    from sn_core.activations.extract import read_activations

    layers = list(range(loaded.n_layers)) if layers is None else list(layers)
    images, prompts, sizes = [], [], []
    for i, ex in enumerate(task.examples):
        if "choices" not in ex.meta or "stem" not in ex.meta:
            raise ValueError(f"task {task.name!r} example {i} is not multiple choice (no choices)")
        sizes.append(len(ex.meta["choices"]))
        for c in ex.meta["choices"]:
            images.append(ex.image)
            prompts.append(loaded.prompt(template.format(stem=ex.meta["stem"], choice=c)))
    acts = read_activations(loaded, images, prompts, sites=(site,), layers=layers, batch_size=batch_size)
    bounds = np.cumsum([0] + sizes)
    return {name: [a[bounds[k]:bounds[k + 1]] for k in range(len(sizes))] for name, a in acts.items()}


def _argmax_hits(values: list[np.ndarray], correct: np.ndarray, rows) -> np.ndarray:
    """``[2, width]``: per neuron, how often the argmax of +value / -value over an example's choices is right."""
    hits = np.zeros((2, values[0].shape[1]))
    for r in rows:
        v = values[r]
        hits[0] += np.argmax(v, axis=0) == correct[r]
        hits[1] += np.argmin(v, axis=0) == correct[r]
    return hits / max(1, len(rows))


def per_choice_search(values: dict[str, list[np.ndarray]], task, split) -> PerChoiceResult:
    """The best neuron and sign on ``split.probe`` by argmax accuracy, with its ``split.test`` accuracy."""
    correct = np.array([ex.meta["choices"].index(ex.meta["answer"]) for ex in task.examples])
    best = (-1.0, None)
    for name in sorted(values, key=lambda n: int(n.split(".")[1])):
        hits = _argmax_hits(values[name], correct, split.probe)
        for s in (0, 1):
            j = int(np.argmax(hits[s]))
            if hits[s, j] > best[0]:
                best = (float(hits[s, j]), (name, j, s))
    name, j, s = best[1]
    test = float(_argmax_hits([v[:, j:j + 1] for v in values[name]], correct, split.test)[s, 0])
    return PerChoiceResult(f"{name}[{j}]", 1.0 if s == 0 else -1.0, best[0], test,
                           max(len(ex.meta["choices"]) for ex in task.examples))


__all__ = ["PerChoiceResult", "TEMPLATE", "per_choice_search", "per_choice_values"]

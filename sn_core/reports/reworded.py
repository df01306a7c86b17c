"""One reworded answer-format instruction against a search (the Compare page): the search's neuron(s), chosen and
fitted under the original instruction, evaluated unchanged on the test split of the same examples asked with the
new instruction, beside the neuron a second search re-chooses under it. The full report over many rewordings,
shifted images and controls is ``sn_core.reports.robustness``."""
from __future__ import annotations

import dataclasses

import numpy as np

from sn_core.progress import Progress


def reworded_instruction(res, instruction: str, loaded=None, root=None, progress: Progress | None = None) -> list[dict]:
    """Rows ``{"prompt", "method", "test_accuracy", "neuron"}``: the chosen neuron(s) under the original and the
    reworded instruction, and the re-chosen neuron under the reworded one. The second search runs without baselines
    (``run_search``: cached like any search). ValueError when ``instruction`` is the original one."""
    from sn_core.search.run import run_search

    if instruction.strip() == (res.task.instruction or "").strip():
        raise ValueError(f"the reworded instruction {instruction!r} is the same as the original one")
    cfg2 = dataclasses.replace(res.config, instruction=instruction, baselines=False).validate()
    res2 = run_search(cfg2, progress=progress, loaded=loaded, root=root)
    ids = res.chosen_neuron_ids()
    clf = res.classifier(ids)  # fitted under the original prompt
    X = np.stack([np.asarray(res2.neuron_values(n).values, float) for n in ids], axis=1)  # [n_examples, k]
    values = res2.neuron_values(ids[0])
    test = np.asarray(values.split).astype(str) == "test"
    same = float(clf.score(X[test], np.asarray(values.labels).astype(str)[test]))
    neuron = ", ".join(ids)
    return [{"prompt": "original", "method": "chosen neuron", "test_accuracy": res.summary.sn_test_accuracy,
             "neuron": neuron},
            {"prompt": "reworded", "method": "chosen neuron", "test_accuracy": same, "neuron": neuron},
            {"prompt": "reworded", "method": "re-chosen neuron", "test_accuracy": res2.summary.sn_test_accuracy,
             "neuron": res2.summary.sn_neuron_id}]


__all__ = ["reworded_instruction"]

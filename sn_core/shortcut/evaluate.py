"""Evaluate a saved classifier (library early exit) or an exported shortcut on many examples.

Which examples (``select_examples``): the task argument is a bundled task name (its ``eval`` part: ``n_examples``
examples drawn with ``data_seed``, as ``search`` draws them), a benchmark or dataset (its class-stratified subset of
``n_examples`` rows, drawn as ``search`` draws it), a JSONL/CSV manifest, or an image folder (one subfolder per class,
with ``question``). With ``split="test"`` (the default for bundled tasks and benchmarks) the examples are the test
split of ``make_split(labels, probe_per_class, test_per_class, seed)``, with the settings of the search that
fitted the classifier where they are known (its stored search, else the artifact's ``seed`` /
``probe_per_class``, else the search defaults): for the same task and settings these are exactly the search's
held-out test examples. ``split="all"`` (the default for manifests and folders) uses every example.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from sn_core.config import SearchConfig

# The split settings of a search, from the one source of search defaults.
SEARCH_DEFAULTS = {k: getattr(SearchConfig, k) for k in ("n_examples", "data_seed", "probe_per_class",
                                                         "test_per_class", "seed")}


@dataclass
class Selection:
    task: object  # sn_core.data.Task
    indices: np.ndarray  # example indices evaluated
    info: dict  # how they were chosen (for --json)


def search_settings(meta: dict, root=None) -> dict:
    """The split settings of the search that fitted a classifier (artifact ``meta``): from the stored search
    when the store still has it, else from the artifact, else the search defaults."""
    out = dict(SEARCH_DEFAULTS)
    inner = (meta or {}).get("meta") or {}
    for k in ("seed", "probe_per_class"):
        if isinstance(inner.get(k), int):
            out[k] = inner[k]
    key = inner.get("search_key")
    if key:
        try:
            from sn_core.search.run import SearchResult

            cfg = SearchResult.load(key, root=root).config
            out.update(n_examples=cfg.n_examples, data_seed=cfg.data_seed, probe_per_class=cfg.probe_per_class,
                       test_per_class=cfg.test_per_class, seed=cfg.seed, question=cfg.question)
            out["from_search"] = key
        except Exception:  # noqa: BLE001 - a deleted or older store: fall back to the artifact's settings
            pass
    return out


def select_examples(task_arg: str, question: str | None, settings: dict, split: str | None = None) -> Selection:
    """The examples ``predict --task`` evaluates (module docstring)."""
    from sn_core.data import make_split
    from sn_core.search.run import resolve_task

    cfg = SearchConfig(task=task_arg, question=question, n_examples=int(settings["n_examples"]),
                       data_seed=int(settings["data_seed"]))
    task = resolve_task(cfg, min_classes=2 if split == "test" else 1)  # evaluating one class is fine; a split is not
    bundled = task.source == "bundled"
    drawn = bundled or bool((task.origin or {}).get("benchmark"))  # a benchmark's subset is drawn as a search draws it
    split = split or ("test" if drawn else "all")
    if split not in ("test", "all"):
        raise ValueError(f"split must be 'test' or 'all', got {split!r}")
    info = {"task": task.name, "source": "bundled" if bundled else task.source, "split": split}
    if bundled:
        info.update(n_examples=int(settings["n_examples"]), data_seed=int(settings["data_seed"]), part="eval")
    elif drawn:
        info.update(n_examples=int(settings["n_examples"]), data_seed=int(settings["data_seed"]))
    if split == "all":
        idx = np.arange(len(task))
    else:
        sp = make_split(task.y, int(settings["probe_per_class"]), settings.get("test_per_class"),
                        int(settings["seed"]))
        idx = np.sort(np.asarray(sp.test, dtype=np.int64))
        info.update(seed=int(settings["seed"]), probe_per_class=int(settings["probe_per_class"]),
                    test_per_class=settings.get("test_per_class"))
    if settings.get("from_search"):
        info["settings_from_search"] = settings["from_search"]
    info["n"] = int(len(idx))
    return Selection(task, idx, info)


def image_name(task, i: int) -> str:
    img = task.examples[i].image
    return str(img) if isinstance(img, (str, bytes)) or hasattr(img, "__fspath__") else f"{task.name}#{i}"


def report(task, indices, predicted, values, neurons, labels_known) -> dict:
    """Accuracy, per-class counts and one prediction per example. A true label outside the classifier's label
    set counts as wrong (``labels_outside`` says how many)."""
    truth = [task.examples[int(i)].label for i in indices]
    correct = [p == t for p, t in zip(predicted, truth)]
    per = {}
    for lbl in sorted(set(truth) | set(predicted)):
        n = sum(t == lbl for t in truth)
        ok = sum(c for c, t in zip(correct, truth) if t == lbl)
        per[lbl] = {"n": int(n), "correct": int(ok), "predicted": int(sum(p == lbl for p in predicted)),
                    "accuracy": (ok / n) if n else None}
    preds = []
    for j, i in enumerate(indices):
        row = {"image": image_name(task, int(i)), "label": truth[j], "predicted": predicted[j],
               "value": float(values[j, 0])}
        if values.shape[1] > 1:
            row["values"] = {n: float(v) for n, v in zip(neurons, values[j])}
        preds.append(row)
    outside = Counter(t for t in truth if t not in labels_known)
    return {"n": len(indices), "accuracy": float(np.mean(correct)) if correct else None,
            "correct": int(sum(correct)), "per_class": per, "labels_outside": dict(outside), "predictions": preds}


__all__ = ["Selection", "search_settings", "select_examples", "report", "SEARCH_DEFAULTS"]

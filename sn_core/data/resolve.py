"""A search's task argument -> :class:`Task`, and back: how to rebuild the same task when a search is reopened.

A task argument is a bundled name (``n_examples`` from its ``eval`` part, ``data_seed``), a JSONL/CSV manifest, an
image folder (one subfolder per class, one question asked of every image), or a benchmark / Hugging Face dataset
(``FORMAT:LOCATION[:SUBSET][;OPTION=VALUE]``, or a folder / .parquet / .arrow path whose format is detected:
``benchmarks/``; ``n_examples`` rows drawn class-stratified with ``data_seed``).
"""
from __future__ import annotations

from pathlib import Path

from sn_core.data.benchmarks import is_benchmark_path, load_benchmark, looks_like_benchmark
from sn_core.data.manifest import load_image_folder, load_manifest
from sn_core.data.tasks import Task, bundled_task_names, get_task


class TaskError(ValueError):
    """A task name or path that cannot be turned into a task."""


def resolve_task(config, min_classes: int = 2) -> Task:
    """The task of a :class:`~sn_core.config.SearchConfig` (``task``, ``n_examples``, ``data_seed``, ``question``,
    ``instruction``). ``min_classes=1`` admits a one-class manifest or image folder (evaluation, not search)."""
    name = config.task
    if name in bundled_task_names():
        task = get_task(name, config.n_examples, seed=config.data_seed, part="eval")
    elif is_benchmark_path(name, config.question):
        task = load_benchmark(name if looks_like_benchmark(name) else f"auto:{name}", config.n_examples,
                              config.data_seed, question=config.question, min_classes=min_classes)
    else:
        p = Path(name).expanduser()
        if p.is_file():
            task = load_manifest(p, min_classes=min_classes)
        elif p.is_dir():
            if not config.question:
                raise TaskError(f"task {name!r} is an image folder; give the question to ask (--question)")
            task = load_image_folder(p, config.question, min_classes=min_classes)
        else:
            raise TaskError(f"unknown task {name!r}: not a bundled task ({', '.join(bundled_task_names())}) "
                            "and no such manifest file or image folder")
    if config.instruction is not None:
        task.instruction = config.instruction
    return task


def task_spec(task: Task, data_seed: int) -> dict:
    """How to rebuild ``task`` when a search is reopened (the fingerprint check then proves it is the same)."""
    if (task.origin or {}).get("benchmark"):
        return {"kind": "benchmark", "arg": task.origin["benchmark"], "n": int(task.origin["n"]),
                "data_seed": int(task.origin["seed"]), "question": task.origin.get("question"),
                "instruction": task.instruction}
    if task.source == "bundled" and task.name in bundled_task_names():
        origin = task.origin or {"n": len(task), "seed": data_seed, "part": "eval"}
        return {"kind": "bundled", "name": task.name, "n": int(origin["n"]), "data_seed": int(origin["seed"]),
                "part": origin.get("part", "eval"), "instruction": task.instruction}
    p = Path(task.source)
    if p.is_file():
        return {"kind": "manifest", "path": str(p.resolve()), "instruction": task.instruction}
    if p.is_dir():
        return {"kind": "folder", "path": str(p.resolve()), "question": task.examples[0].question,
                "instruction": task.instruction}
    return {"kind": "memory", "name": task.name}


def rebuild_task(spec: dict) -> Task:
    """The task :func:`task_spec` describes."""
    kind = spec.get("kind")
    if kind == "bundled":
        task = get_task(spec["name"], spec["n"], seed=spec["data_seed"], part=spec.get("part", "eval"))
    elif kind == "manifest":
        task = load_manifest(spec["path"])
    elif kind == "folder":
        task = load_image_folder(spec["path"], spec["question"])
    elif kind == "benchmark":
        task = load_benchmark(spec["arg"], spec["n"], spec["data_seed"], question=spec.get("question"))
    else:
        raise TaskError(f"task {spec.get('name')!r} was given in memory and cannot be rebuilt; pass task= to "
                        "SearchResult.load")
    task.instruction = spec.get("instruction", task.instruction)
    return task


__all__ = ["TaskError", "rebuild_task", "resolve_task", "task_spec"]

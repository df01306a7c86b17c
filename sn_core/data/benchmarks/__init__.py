"""Published benchmarks and Hugging Face datasets as tasks (docs/datasets.md).

``load_benchmark("clevr:/data/CLEVR_v1.0:color", n=400, seed=0)`` reads the annotations once into an index,
draws a class-stratified subset of ``n`` rows and opens only those rows' images. The task argument syntax
(``spec.py``) is the one ``--task``, the app and ``SearchConfig(task=...)`` take. One module per benchmark
(``pope``, ``clevr``, ``aokvqa``, ``scienceqa``, ``vizwiz``, ``instaorder``), ``hf`` for any Hugging Face dataset on
disk (``arrow.py`` reads parquet / Arrow with pyarrow), ``registry`` for detection.
"""
from __future__ import annotations

from pathlib import Path

from sn_core.data.benchmarks.arrow import find_cached
from sn_core.data.benchmarks.base import BenchmarkError, Index, Row, balanced_sample, build_task
from sn_core.data.benchmarks.registry import DEFAULT_SUBSET, FORMATS, TITLES, detect, no_format_message, subsets_of
from sn_core.data.benchmarks.spec import BenchmarkArg, SpecError, looks_like_benchmark, parse, with_options


def resolve_arg(text: str) -> BenchmarkArg:
    """The parsed task argument with ``auto`` replaced by the detected format (a :class:`BenchmarkError` names the
    formats tried and what each lacked when none fits)."""
    try:
        a = parse(text, subsets_of)
    except SpecError as e:
        raise BenchmarkError(str(e)) from None
    if a.format == "auto":
        loc, sub = a.location, None
        if not Path(loc).expanduser().exists() and ":" in loc:  # auto:PATH:SUBSET
            head, _, tail = loc.rpartition(":")
            if Path(head).expanduser().exists() or find_cached(head):
                loc, sub = head, tail
        fmt, lacked = detect(loc)
        if fmt is None:
            raise BenchmarkError(no_format_message(loc, lacked))
        a = BenchmarkArg(fmt, loc, sub.lower() if sub and fmt != "hf" else sub, a.options)
    if a.format in FORMATS and not Path(a.location).expanduser().exists() and ":" in a.location:
        head, _, tail = a.location.rpartition(":")
        if Path(head).expanduser().exists():  # FORMAT:PATH:TYPO
            a = BenchmarkArg(a.format, head, tail, a.options)
    if a.format in FORMATS and a.subset is not None and a.subset not in subsets_of(a.format):
        raise BenchmarkError(f"{TITLES[a.format]} has no subset {a.subset!r}; subsets: "
                             f"{', '.join(subsets_of(a.format)) or 'none'}")
    return a


def is_benchmark_path(name: str, question: str | None = None) -> bool:
    """Whether a task argument goes to :func:`load_benchmark`: the ``FORMAT:`` syntax, a ``.parquet`` / ``.arrow``
    file, or a folder that is no image-folder task (no ``question``, or a detected dataset format)."""
    if looks_like_benchmark(name):
        return True
    p = Path(name).expanduser()
    if p.is_file():
        return p.suffix.lower() in (".parquet", ".arrow")
    if p.is_dir():
        return not question or detect(name)[0] is not None
    return False


def read_index(a: BenchmarkArg, question: str | None = None) -> Index:
    """The annotation index of a resolved argument (no image is opened)."""
    if a.format == "hf":
        from sn_core.data.benchmarks.hf import index_hf

        return index_hf(a.location, a.subset, a.options, question=question)
    subset = a.subset or DEFAULT_SUBSET.get(a.format)
    return FORMATS[a.format].index(a.location, subset, a.options)


def load_benchmark(text: str, n: int = 400, seed: int = 0, question: str | None = None,
                   min_classes: int = 2) -> "Task":  # noqa: F821
    """The task a benchmark argument names: ``n`` rows drawn class-stratified (seeded) before any image opens."""
    a = resolve_arg(text)
    idx = read_index(a, question)
    canon = BenchmarkArg(a.format, a.location, a.subset or DEFAULT_SUBSET.get(a.format), a.options).text()
    task = build_task(idx, n, seed, a.skip_missing_images, source=canon, min_classes=min_classes)
    task.origin["question"] = question if a.format == "hf" else None
    return task


def describe(text: str, question: str | None = None) -> dict:
    """What the app shows before a search: format, its subsets, the chosen subset and its row count and classes
    (reads the annotation index; opens no image)."""
    a = resolve_arg(text)
    idx = read_index(a, question)
    labels = sorted({str(r.label) for r in idx.rows}) if not idx.multiple_choice else None
    return {"format": a.format, "title": TITLES.get(a.format, a.format), "subsets": list(subsets_of(a.format)),
            "subset": idx.subset, "rows": len(idx.rows), "read": idx.n_read, "name": idx.name,
            "labels": labels, "multiple_choice": idx.multiple_choice, "description": idx.description,
            "arg": BenchmarkArg(a.format, a.location, a.subset or DEFAULT_SUBSET.get(a.format), a.options).text()}


__all__ = ["BenchmarkArg", "BenchmarkError", "FORMATS", "Index", "Row", "SpecError", "TITLES", "balanced_sample",
           "build_task", "describe", "detect", "is_benchmark_path", "load_benchmark", "looks_like_benchmark",
           "no_format_message",
           "parse", "read_index", "resolve_arg", "subsets_of", "with_options"]

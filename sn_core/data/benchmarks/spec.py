"""The one task-argument syntax for benchmarks and Hugging Face datasets, shared by the CLI (``--task``), the app
and the Python API (``SearchConfig(task=...)``, :func:`sn_core.data.benchmarks.load_benchmark`)::

    FORMAT:LOCATION[:SUBSET][;OPTION=VALUE]...

``FORMAT`` is a benchmark (``pope``, ``clevr``, ``aokvqa``, ``scienceqa``, ``vizwiz``, ``instaorder``; also
``instaorder-depth`` / ``instaorder-occlusion``), ``hf`` (any Hugging Face dataset) or ``auto`` (detect the format).
``LOCATION`` is a folder or file, or for ``hf`` (and benchmarks with a Hugging Face copy) a dataset id already in the
local Hugging Face cache (``lmms-lab/POPE``; nothing is downloaded). ``SUBSET`` is one of the format's subsets
(POPE's ``adversarial``, CLEVR's ``color``, ...; for ``hf`` the split). Options:

- ``images=DIR``: the image folder (COCO 2017 for A-OKVQA and InstaOrder; the CLI's ``--images``);
- ``split=NAME``: which split's annotations (default: the format's evaluation split, docs/datasets.md);
- ``skip-missing-images``: leave out rows whose image file is missing (the CLI's ``--skip-missing-images``);
- ``hf`` only: ``image=COL``, ``question=COL``, ``label=COL``, ``choices=COL`` (the CLI's ``--columns``) where the
  usual names are not found.

A bare folder or ``.parquet`` / ``.arrow`` path given as ``--task`` is detected (as ``auto:PATH``) when it matches a
format. A path holding ``;`` cannot be written in this form.
"""
from __future__ import annotations

from dataclasses import dataclass, field

FORMAT_ALIASES = {"instaorder-depth": ("instaorder", "depth"), "instaorder-occlusion": ("instaorder", "occlusion"),
                  "a-okvqa": ("aokvqa", None), "sqa": ("scienceqa", None)}
OPTION_KEYS = ("images", "split", "skip-missing-images", "image", "question", "label", "choices")


class SpecError(ValueError):
    """A task argument in the benchmark syntax that cannot be read."""


@dataclass(frozen=True)
class BenchmarkArg:
    format: str
    location: str
    subset: str | None = None
    options: dict = field(default_factory=dict)

    @property
    def images(self) -> str | None:
        return self.options.get("images")

    @property
    def split(self) -> str | None:
        return self.options.get("split")

    @property
    def skip_missing_images(self) -> bool:
        return "skip-missing-images" in self.options

    def text(self) -> str:
        """The canonical task argument."""
        s = f"{self.format}:{self.location}" + (f":{self.subset}" if self.subset else "")
        for k in OPTION_KEYS:
            if k in self.options:
                s += f";{k}" if k == "skip-missing-images" else f";{k}={self.options[k]}"
        return s


def known_formats() -> tuple[str, ...]:
    from sn_core.data.benchmarks.registry import FORMATS

    return tuple(FORMATS) + ("hf", "auto")


def looks_like_benchmark(text: str) -> bool:
    """Whether ``text`` is written in this syntax (a known format name before the first ``:``)."""
    head = str(text).split(":", 1)[0].strip().lower()
    return ":" in str(text) and (head in known_formats() or head in FORMAT_ALIASES)


def parse(text: str, subsets_of=None) -> BenchmarkArg:
    """``FORMAT:LOCATION[:SUBSET][;OPTION=VALUE]...`` -> :class:`BenchmarkArg`. ``subsets_of(format)`` gives the
    subset names a trailing ``:NAME`` may be (others stay part of the location)."""
    text = str(text).strip()
    head, sep, rest = text.partition(":")
    fmt = head.strip().lower()
    if not sep or not rest.strip():
        raise SpecError(f"task {text!r}: expected FORMAT:LOCATION[:SUBSET], e.g. pope:/data/POPE:adversarial")
    subset = None
    if fmt in FORMAT_ALIASES:
        fmt, subset = FORMAT_ALIASES[fmt]
    if fmt not in known_formats():
        raise SpecError(f"task {text!r}: unknown format {head!r}; formats: {', '.join(known_formats())}")
    parts = rest.split(";")
    location, opts = parts[0].strip(), {}
    for p in parts[1:]:
        p = p.strip()
        if not p:
            continue
        k, eq, v = p.partition("=")
        k = k.strip().lower().replace("_", "-")
        if k not in OPTION_KEYS:
            raise SpecError(f"task {text!r}: unknown option {k!r}; options: {', '.join(OPTION_KEYS)}")
        if k != "skip-missing-images" and not v.strip():
            raise SpecError(f"task {text!r}: option {k} needs a value ({k}=...)")
        opts[k] = v.strip() if eq else ""
    head_loc, colon, tail = location.rpartition(":")
    if colon and tail and subsets_of is not None and tail.lower() in subsets_of(fmt):
        if subset is not None and tail.lower() != subset:
            raise SpecError(f"task {text!r}: subset given twice ({subset!r} and {tail!r})")
        location, subset = head_loc, tail.lower()
    elif colon and tail and fmt == "hf" and "/" not in tail and not tail.startswith("."):  # hf:ID:SPLIT
        location, subset = head_loc, tail
    if not location:
        raise SpecError(f"task {text!r}: no location (folder, file or dataset id) after {head}:")
    return BenchmarkArg(fmt, location, subset, opts)


def with_options(task: str, images: str | None = None, skip_missing_images: bool = False,
                 columns: dict | None = None) -> str:
    """``task`` with the CLI's ``--images``, ``--skip-missing-images`` and ``--columns`` written in as options
    (a bare path becomes ``auto:PATH``)."""
    if not (images or skip_missing_images or columns):
        return task
    out = task if looks_like_benchmark(task) else f"auto:{task}"
    if images:
        out += f";images={images}"
    if skip_missing_images:
        out += ";skip-missing-images"
    for k, v in (columns or {}).items():
        out += f";{k}={v}"
    return out


__all__ = ["BenchmarkArg", "FORMAT_ALIASES", "OPTION_KEYS", "SpecError", "looks_like_benchmark", "parse",
           "with_options"]

"""The benchmark formats, their subsets, and detection: which format a folder or file is, or, when none fits, what
each format looked for and did not find."""
from __future__ import annotations

from pathlib import Path

from sn_core.data.benchmarks import aokvqa, clevr, instaorder, pope, scienceqa, vizwiz
from sn_core.data.benchmarks.arrow import data_files, find_cached, source_for
from sn_core.data.benchmarks.base import BenchmarkError

# Detection order: the specific layouts first, the generic Hugging Face dataset last (POPE's and A-OKVQA's parquet
# copies are Hugging Face datasets too).
FORMATS = {"instaorder": instaorder, "clevr": clevr, "vizwiz": vizwiz, "scienceqa": scienceqa, "aokvqa": aokvqa,
           "pope": pope}
TITLES = {"pope": "POPE", "clevr": "CLEVR", "aokvqa": "A-OKVQA", "scienceqa": "ScienceQA", "vizwiz": "VizWiz",
          "instaorder": "InstaOrder", "hf": "Hugging Face dataset"}
DEFAULT_SUBSET = {"clevr": "yesno", "vizwiz": "answerable", "instaorder": "depth"}


def subsets_of(fmt: str) -> tuple[str, ...]:
    return tuple(FORMATS[fmt].SUBSETS) if fmt in FORMATS else ()


def _hf_detect(root: Path) -> str | None:
    try:
        files = data_files(root)
    except BenchmarkError as e:
        return str(e)
    if not files:
        return "no parquet or Arrow data files (save_to_disk folder, Hub parquet layout)"
    from sn_core.data.benchmarks.hf import find_columns

    try:
        src, _, _ = source_for(str(root), None, "dataset")
    except BenchmarkError as e:
        return str(e)
    cols = find_columns(src, {}, str(root))
    if cols["image"] is None or cols["label"] is None:
        return (f"data files, but no {'image' if cols['image'] is None else 'label'} column found by the usual "
                f"names (columns: {', '.join(src.names)})")
    return None


def detect(location: str) -> tuple[str | None, dict[str, str]]:
    """(format, {format: what it lacked}) of a folder, file or cached dataset id; format None when none fits."""
    p = Path(location).expanduser()
    if not p.exists():
        cached = find_cached(location)
        if cached is None:
            return None, {"all": f"{location!r} is no file or folder, nor a dataset id in the local Hugging Face cache"}
        p = cached
    lacked = {}
    for name, mod in FORMATS.items():
        why = mod.detect(p)
        if why is None:
            return name, lacked
        lacked[name] = why
    why = _hf_detect(p)
    if why is None:
        return "hf", lacked
    lacked["hf"] = why
    return None, lacked


def no_format_message(location: str, lacked: dict[str, str]) -> str:
    if "all" in lacked:
        return lacked["all"]
    tried = "; ".join(f"{TITLES.get(k, k)}: {v}" for k, v in lacked.items())
    return (f"{location!r} matches no dataset format. Tried {tried}. (A folder of class subfolders is an image-folder "
            "task: give its question with --question.)")


__all__ = ["DEFAULT_SUBSET", "FORMATS", "TITLES", "detect", "no_format_message", "subsets_of"]

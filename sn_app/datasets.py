"""The Search page's "benchmark or dataset folder" task source: a server folder (or parquet / Arrow file) in one of
the published benchmark layouts or a Hugging Face dataset on disk (``sn_core.data.benchmarks``, docs/datasets.md).

Before a search starts it shows the detected format, offers the format's subsets and says how many rows the chosen
subset holds and its classes. Paths follow the server-path rule (``sn_core.data.server_paths``: off unless the
operator allows folders, never into the app's cache), and so does every image file the index names.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from sn_app.access import allowed_roots, private_folders
from sn_app.errors import alias_path, guarded
from sn_app.text import md
from sn_core.data import server_paths as _paths
from sn_core.data.server_paths import ALLOWED_ROOTS_ENV


def _outside(index, roots: list[str], forbidden: list[str]) -> bool:
    """Whether any image file of ``index`` (after resolving links) lies outside ``roots`` or inside ``forbidden``."""
    from sn_core.data.benchmarks.base import FileImages

    if not isinstance(index.images, FileImages):
        return False  # embedded images; image paths inside a Hugging Face dataset are held inside its folder
    rs = [Path(r) for r in roots]
    bad = [Path(f).expanduser().resolve() for f in forbidden]
    for img in {str(r.image) for r in index.rows}:
        p = Path(img).resolve()
        if not any(p == r or p.is_relative_to(r) for r in rs) or any(p == f or p.is_relative_to(f) for f in bad):
            return True
    return False


@st.cache_data(ttl=300, max_entries=8, show_spinner="Reading the annotations ...")
def _inspect(arg: str, stamp: float, roots: list[str], forbidden: list[str]) -> tuple[dict, bool]:
    """(``describe(arg)``, whether an image lies outside the allowed folders), read once per argument and
    modification time of its location (every widget change reruns the page; a large index takes seconds)."""
    from sn_core.data.benchmarks import describe, read_index, resolve_arg

    return describe(arg), _outside(read_index(resolve_arg(arg)), roots, forbidden)


def benchmark_task():
    """The task as ``(task_arg, question, n_examples)``, or None where input is missing or wrong (shown)."""
    from sn_core.data.benchmarks import TITLES, detect, no_format_message, subsets_of
    from sn_core.data.benchmarks.registry import DEFAULT_SUBSET

    roots = allowed_roots()
    if not roots:
        st.info("Server paths are turned off on this server: upload the task, or choose a bundled task. "
                f"The operator can allow folders with {ALLOWED_ROOTS_ENV}.")
        return None
    typed = st.text_input("Benchmark or Hugging Face dataset folder (or .parquet / .arrow file)", key="bench_path",
                          persist_state="session", placeholder=f"{roots[0]}/CLEVR_v1.0",
                          help="POPE, CLEVR, A-OKVQA, ScienceQA, VizWiz or InstaOrder in their published layouts, "
                               "or a Hugging Face dataset saved on disk (docs/datasets.md). Inside "
                               + " or ".join(str(r) for r in roots) + ".").strip()
    images = st.text_input("Images folder (COCO 2017 for A-OKVQA and InstaOrder; empty: the layout's own)",
                           key="bench_images", persist_state="session").strip()
    if not typed:
        st.info("Type a benchmark or dataset folder, or choose a bundled task.")
        return None
    out = None
    with guarded("Dataset", stop=False):
        path = _paths.check_server_path(typed, roots, private_folders(), what="path")
        alias_path(path, typed)
        opts = ""
        if images:
            img = _paths.check_server_path(images, roots, private_folders(), what="images folder")
            alias_path(img, images)
            opts = f";images={img}"
        fmt, lacked = detect(str(path))
        if fmt is None:
            raise ValueError(no_format_message(typed, lacked))
        subsets = list(subsets_of(fmt))
        c1, c2 = st.columns(2)
        subset = None
        if subsets:
            default = DEFAULT_SUBSET.get(fmt)
            subset = c1.selectbox(f"{TITLES[fmt]} subset", ["(all)"] + subsets if fmt == "pope" else subsets,
                                  index=(subsets.index(default) if default in subsets else 0), key="bench_subset",
                                  help="Each subset is its own task (docs/datasets.md).")
            subset = None if subset == "(all)" else subset
        if fmt == "hf":  # the splits of a Hugging Face dataset
            from sn_core.data.benchmarks.arrow import SPLIT_PREFERENCE, data_files

            splits = sorted(s.lstrip("_") or "(one)" for s in data_files(path))
            if len(splits) > 1:
                pref = next((s for p in SPLIT_PREFERENCE for s in splits if s.split("/")[-1] == p), splits[0])
                split = c1.selectbox("Split", splits, index=splits.index(pref), key="bench_split")
                opts = f";split={split}" + opts
        skip = c2.checkbox("Skip rows whose image file is missing", False, key="bench_skip",
                           persist_state="session")
        arg = f"{fmt}:{path}" + (f":{subset}" if subset else "") + opts + (";skip-missing-images" if skip else "")
        info, outside = _inspect(arg, path.stat().st_mtime, [str(r) for r in roots],
                                 [str(f) for f in private_folders()])
        if outside:
            raise _paths.ServerPathError(f"path {typed!r} is not readable from the app: its images must be inside "
                                         "the allowed folders and outside the app's cache")
        classes = ("multiple choice (classes: the option letters)" if info["multiple_choice"]
                   else f"classes: {', '.join(md(x) for x in info['labels'])}")
        subset_text = f", subset **{md(info['subset'])}**" if info["subset"] and info["subsets"] else ""
        st.caption(f"Detected **{info['title']}**{subset_text}: {info['rows']:,} usable rows of {info['read']:,} "
                   f"read; {classes}.")
        n = int(st.number_input("Examples to draw (class-stratified)", 4, 100_000, min(400, max(4, info["rows"])),
                                step=50, key="bench_n", persist_state="session",
                                help="Drawn as evenly per class as the class sizes allow, before any image is "
                                     "opened; the probe and test splits come from these."))
        out = (info["arg"], None, n)
    return out


__all__ = ["benchmark_task"]

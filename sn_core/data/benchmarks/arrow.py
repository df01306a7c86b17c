"""Hugging Face datasets on disk, read with pyarrow: parquet files (the Hub's layout, ``data/<split>-*.parquet``), a
``save_to_disk`` folder (``state.json`` + Arrow stream files, or ``dataset_dict.json`` + one folder per split), the
``datasets`` library's own cache (``<owner>___<name>/<config>/<version>/<hash>/<name>-<split>*.arrow``) and the Hub
cache (``datasets--<owner>--<name>/snapshots/<revision>/``), found offline from a dataset id.

Why pyarrow and not ``datasets``: pyarrow is already installed (Streamlit needs it), reads every one of these
layouts, and lets the index read only the text columns while image bytes stay on disk (parquet: only the row groups
holding sampled rows are read; Arrow files are memory-mapped, so only the sampled cells are touched). ``datasets``
would add about a dozen packages (fsspec, multiprocess, dill, xxhash, huggingface_hub, ...) for the same reads, and
its ``load_dataset`` on a dataset id may try the network.

:class:`ArrowSource` is one split: its files, its column names and Hugging Face features (``ClassLabel`` names),
``read(columns)`` for the index and ``open(rows)`` that decodes only the sampled rows' images.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sn_core.data.images import ImageError, load_image
from sn_core.data.benchmarks.base import BenchmarkError

SPLIT_PREFERENCE = ("validation", "val", "test", "testdev", "train")
_SHARD = re.compile(r"-\d{5}-of-\d{5}.*$")


def _split_of(path: Path, builder: str | None = None) -> str:
    """The split a file belongs to: ``test-00000-of-00001-x.parquet`` -> test; ``pope-test.arrow`` (the
    ``datasets`` cache's ``<builder>-<split>``) -> test."""
    stem = _SHARD.sub("", path.name.split(".")[0])
    if builder and stem.startswith(builder + "-"):
        stem = stem[len(builder) + 1:]
    elif path.suffix == ".arrow" and "-" in stem:
        stem = stem.rsplit("-", 1)[1]
    return stem.split("-")[0]


def hf_cache_dirs() -> list[Path]:
    """Where a dataset id is looked for: the Hub cache and the ``datasets`` cache (their environment variables
    first, as the libraries read them)."""
    home = Path(os.environ.get("HF_HOME", "~/.cache/huggingface")).expanduser()
    hub = Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or home / "hub")
    ds = Path(os.environ.get("HF_DATASETS_CACHE") or home / "datasets")
    return [hub.expanduser(), ds.expanduser()]


def find_cached(dataset_id: str) -> Path | None:
    """The local folder of a dataset id (``owner/name``) in the Hub cache (newest snapshot) or the ``datasets``
    cache; None when neither holds it. Nothing is downloaded."""
    if dataset_id.count("/") != 1 or dataset_id.startswith(("/", ".", "~")):
        return None
    owner, name = dataset_id.split("/")
    hub, ds = hf_cache_dirs()
    snaps = hub / f"datasets--{owner}--{name}" / "snapshots"
    if snaps.is_dir():
        found = sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        if found:
            return found[-1]
    for cand in (ds / f"{owner}___{name}", ds / f"{owner}___{name.lower()}"):
        if cand.is_dir():
            return cand
    return None


def data_files(root: Path) -> dict[str, list[Path]]:
    """Split name -> its parquet/Arrow files under ``root`` (a file, a ``save_to_disk`` folder, a Hub snapshot or a
    ``datasets`` cache folder)."""
    if root.is_file():
        return {_split_of(root): [root]}
    if (root / "dataset_dict.json").is_file():
        try:
            splits = json.loads((root / "dataset_dict.json").read_text())["splits"]
        except (ValueError, KeyError, TypeError):
            raise BenchmarkError(f"{root.name}/dataset_dict.json: not a save_to_disk dataset_dict.json") from None
        return {s: f for s in splits for f in [data_files(root / s).get("_", [])] if f}
    if (root / "state.json").is_file():
        try:
            files = [root / d["filename"] for d in json.loads((root / "state.json").read_text())["_data_files"]]
        except (ValueError, KeyError, TypeError):
            raise BenchmarkError(f"{root.name}/state.json: not a save_to_disk state.json") from None
        return {"_": files}
    out: dict[str, list[Path]] = {}
    files = sorted(p for p in root.rglob("*") if p.suffix in (".parquet", ".arrow") and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    builder = None
    if any(p.suffix == ".arrow" for p in files):  # datasets cache: <builder>-<split>.arrow
        info = next(root.rglob("dataset_info.json"), None)
        try:
            builder = json.loads(info.read_text()).get("builder_name") if info else None
        except ValueError:
            builder = None
    parents = {p.parent for p in files}
    for p in files:
        split = _split_of(p, builder)
        if split == "data" or split not in SPLIT_PREFERENCE and p.parent.name in SPLIT_PREFERENCE:
            split = p.parent.name
        if len(parents) > 1 and p.parent != root and p.parent.name not in ("data",) + SPLIT_PREFERENCE:
            split = f"{p.parent.name}/{split}"  # a config folder (lmms-lab's ScienceQA-IMG/test-*.parquet)
        out.setdefault(split, []).append(p)
    return out


def pick_split(splits: dict[str, list[Path]], wanted: str | None, where: str) -> tuple[str, list[Path]]:
    if not splits:
        raise BenchmarkError(f"{where}: no parquet or Arrow data files found")
    if wanted:
        if wanted in splits:
            return wanted, splits[wanted]
        tails = [s for s in splits if s.split("/")[-1] == wanted]
        if len(tails) == 1:
            return tails[0], splits[tails[0]]
        raise BenchmarkError(f"{where}: no split {wanted!r}; splits found: {', '.join(sorted(splits))}")
    if len(splits) == 1:
        return next(iter(splits.items()))
    for pref in SPLIT_PREFERENCE:
        hits = [s for s in splits if s.split("/")[-1] == pref]
        if len(hits) == 1:
            return hits[0], splits[hits[0]]
    raise BenchmarkError(f"{where}: several splits ({', '.join(sorted(splits))}); choose one (…:SPLIT or ;split=)")


class _File:
    def __init__(self, path: Path):
        self.path = path
        self.parquet = path.suffix == ".parquet"
        if self.parquet:
            try:
                self.pf = pq.ParquetFile(path)
            except (pa.ArrowInvalid, OSError) as e:
                raise BenchmarkError(f"{path.name}: not a readable parquet file ({e})") from None
            self.schema = self.pf.schema_arrow
            self.n = self.pf.metadata.num_rows
            starts, s = [], 0
            for i in range(self.pf.num_row_groups):
                starts.append(s)
                s += self.pf.metadata.row_group(i).num_rows
            self.group_starts = starts
        else:
            self.table = _open_arrow(path)
            self.schema = self.table.schema
            self.n = self.table.num_rows

    def column(self, name: str) -> list:
        if self.parquet:
            return self.pf.read(columns=[name]).column(0).to_pylist()
        return self.table.column(name).to_pylist()

    def cells(self, name: str, rows: list[int]) -> list:
        """The ``name`` cells of local ``rows``; parquet reads only the row groups that hold them."""
        if not self.parquet:
            return self.table.column(name).take(pa.array(rows, pa.int64())).to_pylist()
        out = {}
        import bisect

        by_group: dict[int, list[int]] = {}
        for r in rows:
            by_group.setdefault(bisect.bisect_right(self.group_starts, r) - 1, []).append(r)
        for g, rs in by_group.items():
            col = self.pf.read_row_group(g, columns=[name]).column(0)
            base = self.group_starts[g]
            for r, v in zip(rs, col.take(pa.array([r - base for r in rs], pa.int64())).to_pylist()):
                out[r] = v
        return [out[r] for r in rows]


def _open_arrow(path: Path) -> pa.Table:
    """An Arrow stream (what ``datasets`` writes) or Arrow file, memory-mapped: columns are read when used."""
    try:
        source = pa.memory_map(str(path), "r")
        try:
            return pa.ipc.open_stream(source).read_all()
        except pa.ArrowInvalid:
            source.seek(0)
            return pa.ipc.open_file(source).read_all()
    except (pa.ArrowInvalid, OSError) as e:
        raise BenchmarkError(f"{path.name}: not a readable Arrow file ({e})") from None


class ArrowSource:
    """One split of a Hugging Face dataset on disk; ``Row.image`` is the global row number."""

    def __init__(self, files: list[Path], root: Path):
        self.root = root if root.is_dir() else root.parent
        self.files = [_File(p) for p in files]
        first = self.files[0].schema
        for f in self.files[1:]:
            if f.schema.names != first.names:
                raise BenchmarkError(f"{f.path.name}: its columns {f.schema.names} differ from "
                                     f"{self.files[0].path.name}'s {first.names}")
        self.schema = first
        self.names = list(first.names)
        self.features = _features(first, self.root)
        self.image_column: str | None = None
        self.n = sum(f.n for f in self.files)

    def where(self, i: int) -> str:
        for f in self.files:
            if i < f.n:
                return f"{f.path.name} row {i + 1}"
            i -= f.n
        return f"row {i + 1}"

    def read(self, name: str) -> list:
        out = []
        for f in self.files:
            out.extend(f.column(name))
        return out

    def class_names(self, name: str) -> list[str] | None:
        feat = self.features.get(name) or {}
        return feat.get("names") if feat.get("_type") == "ClassLabel" else None

    def has_image(self) -> list[bool]:
        """Per row: whether the image column holds an image (read a batch at a time, never the whole column)."""
        out = []
        for f in self.files:
            if f.parquet:
                for b in f.pf.iter_batches(batch_size=256, columns=[self.image_column]):
                    out.extend(_valid(b.column(0)))
            else:
                out.extend(_valid(f.table.column(self.image_column)))
        return out

    def missing(self, rows) -> list[int]:
        return []  # embedded images: an empty cell is refused when its row is opened

    def open(self, rows) -> list:
        by_file: dict[int, list[tuple[int, int]]] = {}
        for k, r in enumerate(rows):
            i, fi = int(r.image), 0
            while i >= self.files[fi].n:
                i -= self.files[fi].n
                fi += 1
            by_file.setdefault(fi, []).append((k, i))
        out: list = [None] * len(rows)
        for fi, pairs in by_file.items():
            cells = self.files[fi].cells(self.image_column, [i for _, i in pairs])
            for (k, _), cell in zip(pairs, cells):
                out[k] = self.decode(cell, rows[k].where)
        return out

    def decode(self, cell, where: str):
        if isinstance(cell, list):
            cell = cell[0] if cell else None
        data = path = None
        if isinstance(cell, dict):
            data, path = cell.get("bytes"), cell.get("path")
        elif isinstance(cell, (bytes, bytearray)):
            data = cell
        elif isinstance(cell, str):
            path = cell
        if data is None and not path:
            raise BenchmarkError(f"{where}: the image column {self.image_column!r} holds no image")
        try:
            if data is not None:
                return load_image(data, name=f"{where} ({self.image_column})")
            p = Path(path)
            p = p if p.is_absolute() else self.root / p
            if not p.resolve().is_relative_to(self.root.resolve()):
                raise BenchmarkError(f"{where}: image path {path!r} points outside the dataset folder; refused")
            return load_image(p, name=f"{where} ({path})")
        except ImageError as e:
            raise BenchmarkError(str(e)) from None


def _valid(col) -> list[bool]:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    ok = col.is_valid().to_pylist()
    if pa.types.is_struct(col.type) and col.type.get_field_index("bytes") >= 0:
        b = col.field("bytes").is_valid().to_pylist()
        p = col.field("path").is_valid().to_pylist() if col.type.get_field_index("path") >= 0 else [False] * len(b)
        ok = [o and (x or y) for o, x, y in zip(ok, b, p)]
    return ok


def _features(schema: pa.Schema, root: Path) -> dict:
    """Hugging Face ``features`` from the schema metadata, else ``dataset_info.json`` beside the files."""
    meta = schema.metadata or {}
    raw = meta.get(b"huggingface")
    try:
        if raw:
            info = json.loads(raw)
            return (info.get("info") or {}).get("features") or {}
        p = root / "dataset_info.json"
        if p.is_file():
            return json.loads(p.read_text()).get("features") or {}
    except (ValueError, AttributeError):
        pass
    return {}


def is_image_type(t: pa.DataType) -> bool:
    if pa.types.is_struct(t):
        return t.get_field_index("bytes") >= 0 or t.get_field_index("path") >= 0
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return is_image_type(t.value_type)
    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


def source_for(location: str, split: str | None, what: str) -> tuple[ArrowSource, str, Path]:
    """(source, split name, root folder) of a file, folder or cached dataset id."""
    p = Path(location).expanduser()
    if not p.exists():
        cached = find_cached(location)
        if cached is None:
            raise BenchmarkError(f"{what} {location!r}: no such file or folder, and no dataset of that id in the "
                                 f"local Hugging Face cache ({', '.join(str(d) for d in hf_cache_dirs())}); "
                                 "nothing is downloaded")
        p = cached
    name, files = pick_split(data_files(p), split, f"{what} {location!r}")
    return ArrowSource(files, p), name, p


__all__ = ["ArrowSource", "data_files", "find_cached", "hf_cache_dirs", "is_image_type", "pick_split",
           "source_for"]

"""Reading the records of a large JSON array one at a time, so a 150k-question CLEVR file (programs and all) is
never held in memory as one parsed document: each record is decoded, reduced to the fields a loader keeps, and
dropped.

``iter_records(path, key)`` yields the objects of the array under the top-level ``key`` (``"questions"`` in CLEVR's
``{"info": {...}, "questions": [...]}``), or of a top-level array when ``key`` is None. The array is found by the
first ``"key": [`` in the file, so the key must come before any other occurrence of that text (CLEVR's small
``info`` object comes first).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

CHUNK = 1 << 20
_WS = re.compile(r"[\s,]*")


class JsonScanError(ValueError):
    pass


def iter_records(path: str | Path, key: str | None = None, chunk: int = CHUNK) -> Iterator[dict]:
    path = Path(path)
    dec = json.JSONDecoder()
    with open(path, encoding="utf-8-sig") as f:
        buf = f.read(chunk)
        if key is None:
            m = re.match(r"\s*\[", buf)
        else:
            m = re.compile(r'"%s"\s*:\s*\[' % re.escape(key))
            while True:
                found = m.search(buf)
                if found:
                    m = found
                    break
                more = f.read(chunk)
                if not more:
                    m = None
                    break
                buf = buf[-len(key) - 16:] + more
        if not m:
            where = "a top-level JSON array" if key is None else f"a {key!r} array"
            raise JsonScanError(f"{path.name}: no {where} found")
        pos, eof, n = m.end(), False, 0
        while True:
            pos = _WS.match(buf, pos).end()
            if pos >= len(buf):
                if eof:
                    raise JsonScanError(f"{path.name}: the array is not closed (the file ends after record {n})")
                buf, pos = f.read(chunk), 0
                eof = not buf
                continue
            if buf[pos] == "]":
                return
            try:
                obj, end = dec.raw_decode(buf, pos)
            except json.JSONDecodeError as e:
                if eof:
                    raise JsonScanError(f"{path.name}: record {n + 1} is not valid JSON ({e.msg})") from None
                more = f.read(chunk)
                eof = not more
                buf, pos = buf[pos:] + more, 0
                continue
            n += 1
            if not isinstance(obj, dict):
                raise JsonScanError(f"{path.name}: record {n} is a JSON {type(obj).__name__}, not an object")
            yield obj
            pos = end


__all__ = ["JsonScanError", "iter_records"]

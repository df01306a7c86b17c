"""Reading JSON from files a user supplies (manifest rows, classifier artifacts, shortcut cards, a model's
``config.json``): :func:`loads_untrusted` is ``json.loads`` whose every failure is one error naming the file (and
row) and, where it can, the field.

Plain ``json.loads`` fails in three ways that name nothing: a document nested deeper than the interpreter's
recursion limit (200,000 ``[``) raises ``RecursionError``; an integer of more than 4,300 digits raises Python's
"Exceeds the limit (4300 digits) for integer string conversion" ``ValueError``; and a string holding a lone UTF-16
surrogate (``"\\ud800"``) parses, then fails when it is printed or encoded. Here the first is caught, the second is
read as a marker and reported with the field that holds it, and the third is reported with its field too.
"""
from __future__ import annotations

import json
import sys
from typing import Callable

MAX_INT_DIGITS = 4300  # Python's own limit for int(str) (sys.get_int_max_str_digits' default)


class _LongInt:
    """Stands for an integer literal with more than ``MAX_INT_DIGITS`` digits while the document is parsed."""

    __slots__ = ("digits",)

    def __init__(self, digits: int):
        self.digits = digits


def _parse_int(text: str):
    digits = len(text.lstrip("-"))
    limit = min(MAX_INT_DIGITS, sys.get_int_max_str_digits() or MAX_INT_DIGITS)
    return _LongInt(digits) if digits > limit else int(text)


def _has_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _field_path(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(the whole document)"


def find_unusable(doc) -> tuple[str, str] | None:
    """``(field, why)`` of the first value of a parsed document that cannot be used (an over-long integer, a string
    or key holding a lone surrogate), or None. Walks the document without recursion."""
    stack = [((), doc)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, _LongInt):
            return _field_path(path), (f"is an integer of {v.digits:,} digits; numbers are limited to "
                                       f"{MAX_INT_DIGITS:,} digits")
        if isinstance(v, str):
            if _has_surrogate(v):
                return _field_path(path), "holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode text"
        elif isinstance(v, dict):
            for k in reversed(list(v)):
                if _has_surrogate(k):
                    return _field_path(path) + f" key {k.encode('utf-8', 'backslashreplace').decode()!r}", \
                        "holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode text"
                stack.append((path + (k,), v[k]))
        elif isinstance(v, list):
            stack.extend((path + (i,), x) for i, x in reversed(list(enumerate(v))))
    return None


def loads_untrusted(text: str | bytes, where: str, error: type[Exception] = ValueError,
                    parse_constant: Callable | None = None, what: str = "JSON"):
    """``json.loads(text)``; any failure raises ``error`` with a message that starts with ``where`` (the file and
    row): not valid JSON (with the parser's position), nested too deeply, an integer of more than
    ``MAX_INT_DIGITS`` digits or a lone surrogate (both naming the field, e.g. ``label`` or
    ``neurons[0].threshold``). ``parse_constant``: as ``json.loads`` (e.g. to refuse ``NaN``/``Infinity``)."""
    try:
        doc = json.loads(text, parse_int=_parse_int, parse_constant=parse_constant)
    except RecursionError:
        raise error(f"{where}: its {what} is nested too deeply") from None
    except json.JSONDecodeError as e:
        raise error(f"{where}: not valid {what} ({e.msg}: line {e.lineno} column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise error(f"{where}: not UTF-8 text (byte {e.start})") from None
    except ValueError as e:  # parse_constant's refusal, Python's own integer limit
        raise error(f"{where}: not valid {what} ({e})") from None
    try:
        bad = find_unusable(doc)
    except RecursionError:  # not reached: the walk uses no recursion; kept so no RecursionError can escape
        raise error(f"{where}: its {what} is nested too deeply") from None
    if bad is not None:
        field, why = bad
        raise error(f"{where}: field {field} {why}")
    return doc


__all__ = ["MAX_INT_DIGITS", "find_unusable", "loads_untrusted"]

"""User text shown as text. Streamlit renders Markdown in ``st.markdown``, ``st.error`` and the other message boxes,
``st.caption``, titles, and in widget labels and options (links, images, ``:color[...]`` directives, LaTeX); Plotly
renders a few HTML tags (``<a href>`` among them) in figure text. A label, question, instruction, file name, neuron
id, model id, rewording or error message comes from a user and must never become a link, an image, a heading or a
request to another host, on any page: every such value goes through one of these before it is interpolated."""
from __future__ import annotations

import re
import string

_PUNCT = re.compile("([" + re.escape(string.punctuation) + "])")
_SPACE = re.compile(r"\s+")


def md(value) -> str:
    """``value`` as literal text inside Markdown: every ASCII punctuation character backslash-escaped (CommonMark
    renders an escaped one as itself, and an escaped ``:`` or ``.`` also stops GitHub's bare-URL autolinks and
    Streamlit's ``:directives:``), and line breaks and runs of spaces collapsed to one space (no new block starts)."""
    return _PUNCT.sub(r"\\\1", _SPACE.sub(" ", str(value)).strip())


def code(value) -> str:
    """``value`` as an inline code span (shown literally, monospace): fenced with one more backtick than the longest
    run of backticks inside it, and padded so a leading or trailing backtick stays inside."""
    text = _SPACE.sub(" ", str(value)).strip()
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if text else ""


__all__ = ["code", "md"]

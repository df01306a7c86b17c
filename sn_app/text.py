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
# GitHub's autolinks are also found in the text after parsing (mdast-util-gfm-autolink-literal runs on text nodes,
# where backslash escapes are already gone): ``http://``, ``https://``, ``www.`` and ``name@host.tld`` become links
# there however they were escaped. A WORD JOINER (U+2060: no width, no break) inside each of these starts keeps
# the text as it reads and stops the match.
JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=https)(?=:)|(?<=http)(?=:)|(?<=www)(?=\.)|(?=@)")


def md(value) -> str:
    """``value`` as literal text inside Markdown: every ASCII punctuation character backslash-escaped (CommonMark
    renders an escaped one as itself, and an escaped ``:`` or ``.`` also stops GitHub's bare-URL autolinks and
    Streamlit's ``:directives:``), line breaks and runs of spaces collapsed to one space (no new block starts), and
    a NUL shown as U+FFFD, as CommonMark shows it. A word joiner (:data:`JOINER`, invisible) goes before the
    ``:`` of ``http:`` / ``https:``, after ``www`` before a dot and before ``@``: Streamlit's renderer links bare URLs and
    e-mail addresses in the parsed text, where escapes no longer count."""
    text = _SPACE.sub(" ", str(value)).strip().replace("\0", "\ufffd")
    return _PUNCT.sub(r"\\\1", _AUTOLINK.sub(JOINER, text))


def code(value) -> str:
    """``value`` as an inline code span (shown literally, monospace): fenced with one more backtick than the longest
    run of backticks inside it, and padded with a space (which CommonMark strips) where it starts or ends with a
    backtick, so that backtick stays inside."""
    text = _SPACE.sub(" ", str(value)).strip().replace("\0", "\ufffd")
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else ""


__all__ = ["JOINER", "code", "md"]

"""Markdown / HTML injection payloads and the checks that user text stays text, shared by the property test, the
AppTest pages test (``test_user_text.py``) and the browser test (``tests/e2e/test_injection_browser.py``).

A payload is text a visitor controls (a task's labels and questions, a file name, a URL parameter, a rewording)
shaped to become a link, an image, raw HTML, a Streamlit directive or LaTeX if a page rendered it as Markdown. Every
link and image target points at ``HOST``, a name that never resolves, so any element or request naming it was made
by the payload.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

HOST = "evil.example"
LINK = f"[Click to verify your account](http://{HOST}/phish)"
IMAGE = f"![r](http://{HOST}/label_red.png)"
HTML = f'<a href="http://{HOST}/a">a</a><img src="http://{HOST}/i.png">'
# Two labels (the answer matcher must read them as two different words) and a question: each a payload. The
# question stays short (51 tokens of the demo model's 128-position context, with a reworded instruction to come).
LABELS = (IMAGE, LINK)
QUESTION = f"What color? [Verify](http://{HOST}/p) <a href=http://{HOST}/a>a</a> ![r](http://{HOST}/q.png) :red[x] $x$"
NEURON_PAYLOAD = (f"Session expired. [Click here to log in again](http://{HOST}/login) ![x](http://{HOST}/pixel.png) "
                  f"<img src=http://{HOST}/i.png> www.{HOST} user@{HOST} :material/home: $x$")
SEARCH_PAYLOAD = f"[key](http://{HOST}/search)"
ADVERSARIAL = [LINK, IMAGE, HTML, QUESTION, NEURON_PAYLOAD, f"http://{HOST}", f"www.{HOST}", f"mail@{HOST}",
               f"<http://{HOST}>", ":red[x]", ":material/home:", "$x^2$", "$$x$$", "# heading", "=====", "---",
               "`code` ``two``", "a\nb\n\n# c", "| a | b |\n|---|---|", "~~del~~", "**bold** _it_", "&amp; &lt;a&gt;",
               "\\[escaped\\]", "1. item", "- item", "> quote", "    indented", "[ref]: http://x", "[ref]",
               "x\u2028y", "\x00", "<script>alert(1)</script>", "<!-- c -->", "![a](<http://x y>)"]

_SPANS_OPEN = re.compile(r"(?<!\\)(?:\\\\)*(`+)")


def png_bytes(rgb, size=(24, 24)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, tuple(int(c) for c in rgb)).save(buf, format="PNG")
    return buf.getvalue()


def write_payload_task(folder: Path, n_per_class: int = 10) -> Path:
    """A JSONL task in ``folder`` (itself named like a Markdown link) whose two labels and whose question are
    payloads; small PNG images, class 0 reddish and class 1 bluish, each image different. Returns the manifest."""
    folder = Path(folder) / "task [x](http:evil.example)"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(2 * n_per_class):
        c = i % 2
        rgb = (200 + i, 40, 40) if c == 0 else (40, 60, 200 + i)
        name = f"{i}.png"
        (folder / name).write_bytes(png_bytes(rgb))
        rows.append(json.dumps({"image": name, "question": QUESTION, "label": LABELS[c]}))
    manifest = folder / "task.jsonl"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def payload_search(root: Path, manifest: Path):
    """A small search of the payload task on the demo model, stored under ``root``: the ``SearchResult``."""
    from sn_core.config import SearchConfig
    from sn_core.search.run import run_search

    cfg = SearchConfig(model="demo", task=str(manifest), probe_per_class=4, layers=(0, 1), seed=0, baselines=False)
    return run_search(cfg, root=str(root))


# ------------------------------------------------------------------------------------------------------ checks
def markdown_it():
    """CommonMark with GitHub's tables and strikethrough (markdown-it-py), as close to Streamlit's renderer as the
    Python side gets; GFM's bare-URL autolinks and Streamlit's directives are checked on the source instead
    (:func:`unescaped`)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def targets(source: str) -> list[str]:
    """Every link href and image src the Markdown renders to (raw HTML blocks and inline HTML counted as a
    target too, by their text)."""
    out = []

    def walk(tokens):
        for t in tokens:
            if t.type == "link_open":
                out.append(str(t.attrGet("href")))
            elif t.type == "image":
                out.append(str(t.attrGet("src")))
            elif t.type in ("html_inline", "html_block") and re.search(r"<\s*(a|img)\b", t.content, re.I):
                out.append(t.content)
            if t.children:
                walk(t.children)

    walk(markdown_it().parse(str(source)))
    return out


def rendered_text(source: str) -> str:
    """The text a reader sees for inline Markdown ``source`` (text, code spans, line breaks as spaces; the word
    joiner ``sn_app.text.md`` puts into URL and e-mail shapes has no width and is dropped)."""
    parts = []

    def walk(tokens):
        for t in tokens:
            if t.type in ("text", "code_inline", "html_inline"):
                parts.append(t.content)
            elif t.type in ("softbreak", "hardbreak"):
                parts.append(" ")
            elif t.type == "image":
                parts.append("<image>")
            if t.children:
                walk(t.children)

    walk(markdown_it().parse(str(source)))
    return "".join(parts).replace("\u2060", "")


# The text-level autolinks of Streamlit's renderer (mdast-util-gfm-autolink-literal's patterns, JavaScript's ASCII
# ``\w``): they match the parsed text, where backslash escapes are gone, so escaping alone does not stop them.
_TEXT_URL = re.compile(r"(https?://|www(?=\.))([-.A-Za-z0-9_]+)", re.I)
_TEXT_EMAIL = re.compile(r"([-.A-Za-z0-9_+]+)@([-A-Za-z0-9_]+(?:\.[-A-Za-z0-9_]+)+)")


def text_autolinks(source: str) -> list[str]:
    """Bare URLs and e-mail addresses in the plain text (not code spans) that ``source`` renders to: what Streamlit
    would turn into links."""
    found = []

    def walk(tokens):
        for t in tokens:
            if t.type == "text":
                found.extend(m.group(0) for m in _TEXT_URL.finditer(t.content))
                found.extend(m.group(0) for m in _TEXT_EMAIL.finditer(t.content))
            if t.children:
                walk(t.children)

    walk(markdown_it().parse(str(source)))
    return found


def outside_code(source: str) -> str:
    """``source`` without its code spans (CommonMark: a run of n backticks up to the next run of exactly n)."""
    out, i = [], 0
    while True:
        m = _SPANS_OPEN.search(source, i)
        if not m:
            out.append(source[i:])
            return "".join(out)
        fence = m.group(1)
        close = re.compile(r"(?<!`)" + fence + r"(?!`)")
        end = close.search(source, m.end(1))
        if not end:  # an unmatched run is literal text
            out.append(source[i:m.end(1)])
            i = m.end(1)
            continue
        out.append(source[i:m.start(1)] + " ")
        i = end.end()


def unescaped(source: str, chars: str = ":@$") -> dict[str, int]:
    """How many of each of ``chars``, and of ``www.``, stand unescaped outside code spans: what GitHub's bare-URL
    and e-mail autolinks, Streamlit's ``:color[...]`` / ``:material/...:`` directives and ``$`` LaTeX start from."""
    text = outside_code(str(source))
    counts = {c: 0 for c in chars} | {"www.": 0}
    for i, ch in enumerate(text):
        if ch in counts:
            k = 0
            while i - k - 1 >= 0 and text[i - k - 1] == "\\":
                k += 1
            counts[ch] += k % 2 == 0
    counts["www."] = len(re.findall(r"www\.", text, re.I))
    return counts


def plotly_html_tags(spec_json: str) -> list[str]:
    """Link and image tags in a Plotly figure's JSON (titles, ticks, legends, hover templates)."""
    return re.findall(r"<\s*(?:a|img)\b[^>]*>?", spec_json, re.I)

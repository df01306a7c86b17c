"""Small files that each do one thing: no module over 400 lines and no function over 80 in the library, the app's
pages and its Streamlit adapter (docs/development.md, "Layout")."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("sn_core", "app_pages", "sn_app")
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 80
FILES = sorted(p for folder in FOLDERS for p in (REPO / folder).rglob("*.py"))


def test_the_folders_hold_code():
    assert len(FILES) > 50


def test_no_file_over_the_limit():
    long = {str(p.relative_to(REPO)): n for p in FILES if (n := len(p.read_text(encoding="utf-8").splitlines()))
            > MAX_FILE_LINES}
    assert not long, f"files over {MAX_FILE_LINES} lines: {long}"


def test_no_function_over_the_limit():
    long = {}
    for p in FILES:
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{p.relative_to(REPO)}:{node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"

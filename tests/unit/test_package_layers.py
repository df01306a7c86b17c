"""The package dependency order of docs/development.md ("Packages"): a module may import from its own package and
from packages listed before it, never from one listed after it, and the modules of sn_core form no import circle.
Imports inside functions count too: a lazy import is still a dependency."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SN_CORE = Path(__file__).resolve().parents[2] / "sn_core"
# sn_core's top level (config, sites, the package itself) first, then the data path, then what sits on top of it.
LAYERS = ("", "store", "data", "models", "activations", "scoring", "classifier", "search", "shortcut", "reports",
          "plots", "demo", "cli")
TOP_LEVEL_MODULES = {"__init__", "__main__", "_compat", "config", "progress", "sites"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SN_CORE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The sn_core modules ``path`` imports (absolute, resolved; ``from X import name`` counts X.name when that is a
    module)."""
    mod = _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "sn_core")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "sn_core":
                continue
            out.add(target)
            for a in node.names:
                if _exists(f"{target}.{a.name}"):
                    out.add(f"{target}.{a.name}")
    return out


def _exists(mod: str) -> bool:
    p = SN_CORE.parent.joinpath(*mod.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def _layer(mod: str) -> str:
    parts = mod.split(".")
    return "" if len(parts) == 1 or not (SN_CORE / parts[1]).is_dir() else parts[1]


MODULES = {_module_name(p): p for p in sorted(SN_CORE.rglob("*.py"))}
GRAPH = {m: {i for i in _imports(p) if i in MODULES} for m, p in MODULES.items()}


def test_layers_cover_every_package_and_top_level_module():
    packages = {p.name for p in SN_CORE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(LAYERS) - {""}, "a package missing from LAYERS (and docs/development.md)"
    top = {p.stem for p in SN_CORE.glob("*.py")}
    assert top <= TOP_LEVEL_MODULES, f"top-level modules beyond the cross-cutting few: {sorted(top - TOP_LEVEL_MODULES)}"


@pytest.mark.parametrize("module", sorted(set(MODULES) - {"sn_core.__main__"}))  # the entry point sits above all
def test_no_upward_import(module):
    rank = LAYERS.index(_layer(module))
    upward = sorted(i for i in GRAPH[module] if LAYERS.index(_layer(i)) > rank)
    assert not upward, f"{module} ({_layer(module) or 'top level'}) imports from a later package: {upward}"


def test_no_import_circle():
    # Tarjan's strongly connected components over module-level and lazy imports alike; a package's __init__
    # re-exporting its own modules is not a circle with them (the modules never import their __init__ by name).
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w == v or (MODULES[w].name == "__init__.py" and v.startswith(w + ".")):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not comps, f"import circles: {comps}"


def test_the_library_imports_no_former_path():
    from sn_core._compat import OLD_PATHS

    repo = SN_CORE.parent
    files = sorted(SN_CORE.rglob("*.py")) + sorted((repo / "sn_app").rglob("*.py")) + sorted(
        (repo / "app_pages").glob("*.py"))
    old = {str(p.relative_to(repo)): sorted(i for i in _imports(p) if i in OLD_PATHS) for p in files}
    old = {k: v for k, v in old.items() if v and not k.endswith("_compat.py")}
    assert not old, f"imports of former module paths (use the new ones): {old}"

"""Every stage lists what it reads: each `melt` module its script imports (transitively, also inside
functions) is covered by one of the stage's `deps` in dvc.yaml, so a code change re-runs exactly the
stages that run that code."""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# Modules that can stop a stage but never change its outputs: not dependencies (each file says why).
VALIDATION_ONLY = {REPO / "melt/params_sections.py"}


def _module_file(name: str) -> Path | None:
    base = REPO / Path(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _has_code(path: Path) -> bool:
    """False for a module that is only a docstring / `__version__` (e.g. an empty package `__init__`)."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
               and not (isinstance(n, ast.Assign) and all(getattr(t, "id", "") == "__version__" for t in n.targets))
               for n in body)


def _imported_names(path: Path) -> set[str]:
    """`melt.*` module names a file imports anywhere (module level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts)
    if path.name == "__init__.py":
        package = package.removesuffix(".__init__")
    else:
        package = package.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names |= {f"{module}.{a.name}" for a in node.names}   # `from pkg import submodule`
    return {n for n in names if n == "melt" or n.startswith("melt.")}


def import_closure(script: Path) -> set[Path]:
    """Files of every melt module (and the packages they live in) that running `script` may import."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        for name in _imported_names(path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):   # importing a.b.c runs a/__init__, a/b/__init__ too
                found = _module_file(".".join(parts[:i]))
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return seen


def _stages() -> list[tuple[str, dict]]:
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    return sorted((name, stage.get("do", stage)) for name, stage in spec["stages"].items())   # foreach: its `do`


def _dep_paths(stage: dict) -> list[Path]:
    paths = []
    for dep in stage.get("deps", []):
        name = dep if isinstance(dep, str) else next(iter(dep))
        if "${" not in name:
            paths.append(REPO / name)
    return paths


def _script(stage: dict) -> Path:
    cmd = stage["cmd"] if isinstance(stage["cmd"], str) else stage["cmd"][0]
    words = shlex.split(cmd)
    return REPO / next(w for w in words if w.endswith(".py"))


@pytest.mark.parametrize("name, stage", _stages(), ids=[n for n, _ in _stages()])
def test_stage_deps_cover_every_imported_module(name, stage):
    script = _script(stage)
    deps = _dep_paths(stage)
    assert script in deps, f"{name}: its script {script.relative_to(REPO)} is not in deps"
    missing = sorted(
        str(f.relative_to(REPO)) for f in import_closure(script)
        if _has_code(f) and f not in VALIDATION_ONLY and not any(f == d or d in f.parents for d in deps))
    assert not missing, f"dvc.yaml stage {name!r} imports modules missing from its deps: {missing}"


def test_closure_follows_imports_inside_functions(tmp_path):
    """The checker itself: a function-level import is part of the closure (hand-made example)."""
    script = REPO / "stages" / "prompts.py"
    closure = {str(p.relative_to(REPO)) for p in import_closure(script)}
    assert "melt/annotate/requests.py" in closure
    assert "melt/io.py" in closure              # imported inside write_prompts()

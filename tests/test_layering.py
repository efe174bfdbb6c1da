"""Data flows one way: drivers never import rewards; rewards import from drivers only the floor.

The floor (``drivers.frames``: Frame/Axis; ``drivers.errors``: the error root; ``drivers.validation``:
the shared setting checks) imports nothing else from the project, so every package may stand on it.
The walk reads every module's AST, so imports inside functions and ``TYPE_CHECKING`` blocks count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOOR = {"drivers.frames", "drivers.errors", "drivers.validation"}
PROJECT = ("agent", "benchmarks", "drivers", "policies", "rewards")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import in ``path`` (relative imports resolved; for
    ``from X import name`` both ``X`` and ``X.name`` are candidates, so the module is reported)."""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.append((node.lineno, full if _is_module(full, root) else base))
    return out


def _is_module(name: str, root: Path) -> bool:
    rel = Path(*name.split("."))
    return (root / rel).with_suffix(".py").exists() or (root / rel / "__init__.py").exists()


def offending(package: str, allowed: set[str], forbidden: str, root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted((root / package).rglob("*.py")):
        for line, name in imports(path, root):
            top = name.split(".")[0]
            if top == forbidden and name not in allowed and not any(name.startswith(a + ".") for a in allowed):
                bad.append(f"{path.relative_to(root)}:{line} imports {name}")
    return bad


def test_drivers_never_import_rewards() -> None:
    assert offending("drivers", set(), "rewards") == []


def test_rewards_import_only_the_floor_of_drivers() -> None:
    assert offending("rewards", FLOOR, "drivers") == []


@pytest.mark.parametrize("floor", sorted(FLOOR))
def test_the_floor_imports_nothing_above_it(floor: str) -> None:
    path = (ROOT / Path(*floor.split("."))).with_suffix(".py")
    above = [f"{floor}:{line} imports {name}" for line, name in imports(path)
             if name.split(".")[0] in PROJECT and name not in FLOOR]
    assert above == []


def test_the_walk_sees_imports_it_must_refuse(tmp_path: Path) -> None:
    """The checker itself, on a throw-away tree: function-level and relative imports are caught,
    the floor is let through."""
    for package in ("drivers", "rewards"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "drivers" / "frames.py").write_text("")
    (tmp_path / "rewards" / "evaluate.py").write_text("")
    (tmp_path / "drivers" / "probe.py").write_text("def f():\n    from rewards.evaluate import evaluate\n")
    (tmp_path / "rewards" / "ok.py").write_text("from drivers.frames import Axis\nfrom .evaluate import x\n")
    (tmp_path / "rewards" / "bad.py").write_text("import drivers.emulator\nfrom drivers import frames, Frame\n")
    assert offending("drivers", set(), "rewards", tmp_path) == ["drivers/probe.py:2 imports rewards.evaluate"]
    assert offending("rewards", {"drivers.frames"}, "drivers", tmp_path) == [
        "rewards/bad.py:1 imports drivers.emulator", "rewards/bad.py:2 imports drivers"]

"""The project's large shape, checked from the source: no import circle among the agent's modules,
and the floors (who may import whom) of drivers, rewards and policies.

The import graph is read from every module's AST (``agent``, ``drivers``, ``policies``, ``rewards``):
module-level imports and imports inside functions both count (a function-level import that closes
a circle is still a circle, only a hidden one). Imports under ``if TYPE_CHECKING:`` never run and
are left out. ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to
``pkg`` (its ``__init__``). Relative imports are resolved.

Floors (data flows one way: driver -> measurement -> reward -> surrogate -> policy -> driver):
* ``drivers`` imports nothing from ``agent``, ``policies`` or ``rewards``;
* ``rewards`` imports from the project only ``drivers.frames``, ``drivers.errors``,
  ``drivers.validation`` (the floor: frames/axes, the error root, the shared setting checks);
* ``policies`` imports nothing from ``agent`` or ``rewards``, and from ``drivers`` only the errors
  and validation floor.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "drivers", "policies", "rewards")
FLOOR = ("drivers.frames", "drivers.errors", "drivers.validation")

#: Known exceptions to a floor rule, each with the reason; the test fails when one is no longer
#: needed (so the list only shrinks).
#: (None today: autoscope-serve's entry point, agent.serve, gives drivers.remote.serve the config folder.)
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    return {_module_name(p, root): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def import_edges(module: str, path: Path, known: dict[str, Path]) -> list[tuple[int, str]]:
    """``(line, project module)`` of every import ``module`` runs (module level or in a function)."""

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_nodes(tree)
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, r) for a in node.names if (r := resolve(a.name))]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                target = full if full in known else resolve(base)
                if target:
                    out.append((node.lineno, target))
    return [(line, t) for line, t in out if t != module]


def import_graph(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, dict[str, int]]:
    """``{module: {imported module: first line}}`` over the project's packages."""
    known = _modules(root, packages)
    graph: dict[str, dict[str, int]] = {}
    for module, path in known.items():
        edges: dict[str, int] = {}
        for line, target in import_edges(module, path, known):
            edges.setdefault(target, line)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, dict[str, int]], within: str) -> list[str] | None:
    """One import circle among the modules of package ``within`` (``[a, b, ..., a]``), or None."""
    nodes = sorted(m for m in graph if m == within or m.startswith(within + "."))
    inside = set(nodes)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(graph[v]):
            if w not in inside:
                continue
            if state.get(w) == 1:
                return path[path.index(w):] + [w]
            if w not in state and (found := visit(w)) is not None:
                return found
        path.pop()
        state[v] = 2
        return None

    for v in nodes:
        if v not in state and (found := visit(v)) is not None:
            return found
    return None


def _describe(graph: dict[str, dict[str, int]], cycle: list[str]) -> str:
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def floor_violations(graph: dict[str, dict[str, int]], package: str, forbidden: Iterable[str],
                     allowed: Iterable[str] = ()) -> list[str]:
    """``"module:line imports target"`` for every import from ``package`` into a ``forbidden``
    package other than the ``allowed`` modules (and the :data:`EXCEPTIONS`)."""
    forbidden, allowed = tuple(forbidden), tuple(allowed)
    bad = []
    for module, edges in sorted(graph.items()):
        if not (module == package or module.startswith(package + ".")):
            continue
        for target, line in sorted(edges.items()):
            if target.split(".")[0] not in forbidden or (module, target) in EXCEPTIONS:
                continue
            if any(target == a or target.startswith(a + ".") for a in allowed):
                continue
            bad.append(f"{module}:{line} imports {target}")
    return bad


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    return import_graph()


def test_no_import_circle_among_the_agents_modules(graph: dict[str, dict[str, int]]) -> None:
    cycle = find_cycle(graph, "agent")
    assert cycle is None, "import circle: " + _describe(graph, cycle)


@pytest.mark.parametrize("package", ["drivers", "policies", "rewards"])
def test_no_import_circle_inside_the_other_packages(graph: dict[str, dict[str, int]], package: str) -> None:
    cycle = find_cycle(graph, package)
    assert cycle is None, "import circle: " + _describe(graph, cycle)


def test_drivers_import_nothing_from_agent_policies_or_rewards(graph: dict[str, dict[str, int]]) -> None:
    assert floor_violations(graph, "drivers", ("agent", "policies", "rewards")) == []


def test_rewards_import_only_the_floor_of_drivers(graph: dict[str, dict[str, int]]) -> None:
    assert floor_violations(graph, "rewards", ("agent", "policies", "drivers"), FLOOR) == []


def test_policies_import_only_the_errors_and_validation_floor(graph: dict[str, dict[str, int]]) -> None:
    assert floor_violations(graph, "policies", ("agent", "rewards", "drivers"),
                            ("drivers.errors", "drivers.validation")) == []


def test_every_exception_is_still_needed(graph: dict[str, dict[str, int]]) -> None:
    stale = [f"{a} -> {b}" for (a, b) in EXCEPTIONS if b not in graph.get(a, {})]
    assert stale == [], "remove from EXCEPTIONS (the import is gone): " + ", ".join(stale)


def test_the_checker_finds_hidden_circles_and_floor_breaches(tmp_path: Path) -> None:
    """On a throw-away tree: a circle closed by a function-level relative import is found, one
    through TYPE_CHECKING is not; a driver importing a reward and a policy importing drivers.frames
    are refused, drivers.errors is let through."""
    def write(rel: str, text: str = "") -> None:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    for pkg in ("agent", "drivers", "policies", "rewards"):
        write(f"{pkg}/__init__.py")
    write("agent/a.py", "from .b import f\n")
    write("agent/b.py", "def f():\n    from agent import c\n")
    write("agent/c.py", "import agent.a\n")
    write("agent/typed.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .untyped import X\n")
    write("agent/untyped.py", "from agent.typed import Y\n")
    write("drivers/errors.py")
    write("drivers/frames.py")
    write("drivers/probe.py", "def f():\n    from rewards import evaluate\n")
    write("rewards/evaluate.py")
    write("policies/p.py", "from drivers.errors import E\nfrom drivers import frames\n")
    g = import_graph(tmp_path)
    cycle = find_cycle(g, "agent")
    assert cycle is not None and set(cycle) == {"agent.a", "agent.b", "agent.c"}
    assert "agent.untyped" not in g["agent.typed"]
    assert floor_violations(g, "drivers", ("agent", "policies", "rewards")) == [
        "drivers.probe:2 imports rewards.evaluate"]
    assert floor_violations(g, "policies", ("agent", "rewards", "drivers"), ("drivers.errors",)) == [
        "policies.p:2 imports drivers.frames"]
    write("agent/c.py", "")
    assert find_cycle(import_graph(tmp_path), "agent") is None

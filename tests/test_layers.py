"""The package's layers as the code has them: no module imports, however late, a module that imports
it back (directly or round a longer circle), and no engine, architecture or monitor module imports
the command line."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vm"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Each vm module and the vm modules it imports anywhere in its text (a function's imports too)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = found
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _without_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's __init__ that re-exports its modules is not an edge back into them."""
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def test_no_module_imports_its_importer():
    cycle = _cycle(_without_packages(_imports()))
    assert cycle is None, "an import circle: " + " -> ".join(cycle)


def test_engines_architectures_and_the_monitor_never_import_the_command_line():
    graph = _imports()
    lower = [name for name in graph if name.startswith(("vm.engines", "vm.arch", "vm.isa", "vm.monitor"))]
    offenders = {name: sorted(t for t in graph[name] if t in ("vm.cli", "vm.containers.daemon_commands",
                                                              "vm.containers.image_commands"))
                 for name in lower}
    assert not {k: v for k, v in offenders.items() if v}

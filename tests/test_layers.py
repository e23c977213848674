"""The import graph keeps its one-way layers (read from the source, not by importing it)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "eqv2"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def eqv2_imports() -> dict[str, set[str]]:
    """eqv2 module -> the eqv2 modules it imports anywhere in its source."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("eqv2"):
                imported.add(node.module)
                imported.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names if alias.name.startswith("eqv2"))
        graph[module_name(path)] = imported
    return graph


GRAPH = eqv2_imports()


def importers_of(prefix: str) -> set[str]:
    return {module for module, imported in GRAPH.items() if any(name.startswith(prefix) for name in imported)}


def test_so3_is_pure_math_and_nn_builds_only_on_it():
    for module, imported in GRAPH.items():
        if module.startswith("eqv2.so3"):
            assert all(name.startswith("eqv2.so3") for name in imported), module
        if module.startswith("eqv2.nn"):
            assert all(name.startswith(("eqv2.so3", "eqv2.nn")) for name in imported), module


def test_only_the_checkpoint_module_reads_foreign_formats():
    outside = {m for m in importers_of("eqv2.compat") if not m.startswith("eqv2.compat")}
    assert outside == {"eqv2.checkpoint"}


def test_the_potential_and_prediction_do_not_import_the_data_package():
    for module in ("eqv2.potential", "eqv2.prediction", "eqv2.batch", "eqv2.validation", "eqv2.model"):
        assert not any(name.startswith("eqv2.data") for name in GRAPH[module]), module


def test_commands_are_reached_only_from_the_command_line_module():
    outside = {m for m in importers_of("eqv2.commands") if not m.startswith("eqv2.commands")}
    assert outside == {"eqv2.cli"}
    command_modules = {m for m in GRAPH if m.startswith("eqv2.commands.") and m != "eqv2.commands.common"}
    registered = {name for name in GRAPH["eqv2.cli"] if name.startswith("eqv2.commands.")}
    assert command_modules <= registered

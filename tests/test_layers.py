"""The import graph keeps its one-way layers and imports only declared packages (read from the source, not
by importing it)."""

import ast
import itertools
import re
import sys
from pathlib import Path

import pytest

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


def test_only_the_checkpoint_loader_reads_foreign_formats():
    foreign = ("eqv2.checkpoints.fairchem", "eqv2.checkpoints.hydra")
    importers = {module for name in foreign for module in importers_of(name)} - set(foreign)
    assert importers == {"eqv2.checkpoints.loading"}


def test_the_potential_and_prediction_do_not_import_the_data_package():
    for module in ("eqv2.potential", "eqv2.simulate.prediction", "eqv2.batch", "eqv2.validation", "eqv2.model"):
        assert not any(name.startswith("eqv2.data") for name in GRAPH[module]), module


def test_commands_are_reached_only_from_the_command_line_module():
    outside = {m for m in importers_of("eqv2.commands") if not m.startswith("eqv2.commands")}
    assert outside == {"eqv2.cli"}
    command_modules = {m for m in GRAPH if m.startswith("eqv2.commands.") and m != "eqv2.commands.common"}
    registered = {name for name in GRAPH["eqv2.cli"] if name.startswith("eqv2.commands.")}
    assert command_modules <= registered


MODULE_OF = {"pyyaml": "yaml", "torch-sim-atomistic": "torch_sim"}  # distributions whose module is named otherwise


def third_party_imports() -> set[str]:
    """The top-level names of the packages outside the standard library that eqv2 imports anywhere."""
    imported = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
    return imported - set(sys.stdlib_module_names) - {"eqv2"}


def test_every_package_eqv2_imports_is_declared_in_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *itertools.chain(*project["optional-dependencies"].values())]
    distributions = {re.match(r"[A-Za-z0-9_.-]+", requirement).group().lower() for requirement in requirements}
    undeclared = third_party_imports() - {MODULE_OF.get(name, name) for name in distributions}
    assert not undeclared

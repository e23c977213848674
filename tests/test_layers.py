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


# The packages above the core (so3, nn and the root modules but the command line), and the ones each may
# import besides the core: the layers of docs/design.md. The command line (cli, commands) is above them all.
PACKAGE_IMPORTS = {
    "checkpoints": set(),
    "integrations": {"checkpoints"},
    "data": set(),
    "simulate": {"integrations"},  # MD runs ASE's integrators with the ASE calculator
    "train": {"checkpoints", "data"},
    "jobs": {"data", "simulate"},  # the file runner reads inputs and runs the in-memory verbs
    "experiment": {"checkpoints", "data", "train"},  # sweeps of training runs sit above training
    "commands": {"checkpoints", "integrations", "data", "simulate", "train", "jobs", "experiment"},
}


def layer_of(module: str) -> str:
    """The package of PACKAGE_IMPORTS that ``module`` belongs to, else "core" (so3, nn, root modules)."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in PACKAGE_IMPORTS:
        return parts[1]
    return "core"


def test_the_runtime_module_imports_nothing_of_eqv2():
    assert GRAPH["eqv2.runtime"] == set()


def test_the_core_imports_no_package_above_it():
    entry_points = {"eqv2", "eqv2.__main__", "eqv2.cli"}  # the public API and the command line sit on top
    for module, imported in GRAPH.items():
        if layer_of(module) == "core" and module not in entry_points:
            above = {name for name in imported if layer_of(name) != "core"}
            assert not above, (module, above)


def test_packages_import_only_the_packages_below_them():
    for module, imported in GRAPH.items():
        layer = layer_of(module)
        if layer == "core":
            continue
        others = {layer_of(name) for name in imported} - {"core", layer}
        assert others <= PACKAGE_IMPORTS[layer], (module, others - PACKAGE_IMPORTS[layer])


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

"""The package's layering (docs/architecture.md), checked on the source's import statements.

Every ``import`` counts, also those inside functions and under ``TYPE_CHECKING``: a deferred import still couples
the two modules. The rules:

- layers import only downwards: base < data < models, diffusion < training < pipelines, evaluation < commands;
  in particular ``models`` and ``diffusion`` never import ``training``, ``pipelines``, ``evaluation`` or the CLI,
  and ``data`` never imports ``models``;
- no import cycles, neither between modules nor between subpackages;
- no ``_private`` name (or module) is imported from another package;
- the annotator (``interanimate.data.annotate``) is used through its package's public API only: no module outside
  it imports one of its modules.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

import interanimate

SRC = Path(interanimate.__file__).resolve().parent

# The layers, lowest first; a module may import its own layer and the ones below. A module belongs to the
# longest prefix listed. Commands (``*.command``, ``*_command``) are placed by ``layer_of`` below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("interanimate", "interanimate.errors", "interanimate.taxonomy", "interanimate.cli_types",
     "interanimate.configs"),
    ("interanimate.data", "interanimate.assets", "interanimate.provenance"),
    ("interanimate.models", "interanimate.diffusion"),
    ("interanimate.training",),
    ("interanimate.pipelines", "interanimate.render", "interanimate.evaluation"),
    ("interanimate.demo", "interanimate.cli", "interanimate.app"),
)
COMMANDS_LAYER = len(LAYERS) - 1
# Subpackages for the package-level cycle check (the longest prefix wins; top-level modules stand for themselves).
PACKAGES = ("interanimate.data", "interanimate.data.synth", "interanimate.data.annotate", "interanimate.models",
            "interanimate.diffusion", "interanimate.training", "interanimate.pipelines", "interanimate.render",
            "interanimate.app", "interanimate.evaluation",
            "interanimate.configs")


@dataclass(frozen=True)
class Import:
    importer: str  # module doing the import
    module: str  # module imported (for ``from m import n``: ``m``, or ``m.n`` when ``n`` is a submodule)
    name: str | None  # the name taken by ``from m import name``
    line: int

    def __str__(self) -> str:
        what = f"from {self.module} import {self.name}" if self.name else f"import {self.module}"
        return f"{self.importer}:{self.line}: {what}"


def _modules() -> dict[str, tuple[Path, bool]]:
    modules = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


MODULES = _modules()


def _imports() -> list[Import]:
    found = []
    for importer, (path, is_package) in MODULES.items():
        package = importer if is_package else importer.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found += [Import(importer, a.name, None, node.lineno) for a in node.names
                          if a.name.split(".")[0] == "interanimate"]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if module.split(".")[0] != "interanimate":
                    continue
                for alias in node.names:
                    target = f"{module}.{alias.name}"
                    found.append(Import(importer, target if target in MODULES else module,
                                        None if target in MODULES else alias.name, node.lineno))
    return found


IMPORTS = _imports()


def _longest_prefix(module: str, prefixes) -> str | None:
    matches = [p for p in prefixes if module == p or module.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def is_command(module: str) -> bool:
    last = module.rpartition(".")[2]
    return last == "command" or last.endswith("_command") or last == "__main__"


def layer_of(module: str) -> int:
    if is_command(module):
        return COMMANDS_LAYER
    prefix = _longest_prefix(module, [p for layer in LAYERS for p in layer])
    assert prefix is not None, f"{module} is in no layer; add it to LAYERS in {__file__}"
    return next(i for i, layer in enumerate(LAYERS) if prefix in layer)


def package_of(module: str) -> str:
    # A command module belongs to the commands layer above every package, not to the package it sits in.
    if is_command(module):
        return module
    return _longest_prefix(module, PACKAGES) or module


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def _graph(key) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        a, b = key(imp.importer), key(imp.module)
        graph[a]
        graph[b]
        if a != b:
            graph[a].add(b)
    return graph


def test_the_source_is_found_and_parsed():
    # The rules below are only as good as the import list they read.
    assert "interanimate.models.interanimate_model" in MODULES
    assert any(i.importer == "interanimate.cli" and i.module == "interanimate.errors" for i in IMPORTS)
    assert any(i.importer == "interanimate.training.command" and i.module == "interanimate.training.trainer"
               for i in IMPORTS), "imports inside functions must count"


@pytest.mark.parametrize("lower, higher", [
    ("interanimate.models", "interanimate.training"),
    ("interanimate.models", "interanimate.pipelines"),
    ("interanimate.models", "interanimate.evaluation"),
    ("interanimate.models", "interanimate.cli"),
    ("interanimate.diffusion", "interanimate.training"),
    ("interanimate.diffusion", "interanimate.pipelines"),
    ("interanimate.diffusion", "interanimate.evaluation"),
    ("interanimate.diffusion", "interanimate.cli"),
    ("interanimate.data", "interanimate.models"),
    ("interanimate.data.synth", "interanimate.models"),
    ("interanimate.data.annotate", "interanimate.models"),
])
def test_named_rules_follow_from_the_layers(lower, higher):
    assert layer_of(lower) < layer_of(higher)


def test_layers_import_only_downwards():
    upward = [f"{imp} (layer {layer_of(imp.importer)} imports layer {layer_of(imp.module)})" for imp in IMPORTS
              if layer_of(imp.module) > layer_of(imp.importer)]
    assert not upward, "imports against the layering (docs/architecture.md):\n" + "\n".join(upward)


def test_no_import_cycles_between_modules():
    graph = _graph(lambda m: m)
    assert not _cycles(graph), f"module import cycles: {_cycles(graph)}"


def test_no_import_cycles_between_packages():
    graph = _graph(package_of)
    assert not _cycles(graph), f"package import cycles: {_cycles(graph)}"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_imported_from_another_package():
    leaks = []
    for imp in IMPORTS:
        target_package = imp.module.rpartition(".")[0] if imp.module in MODULES and not MODULES[imp.module][1] \
            else imp.module
        importer_package = imp.importer if MODULES[imp.importer][1] else imp.importer.rpartition(".")[0]
        private_module = any(_private(part) for part in imp.module.split("."))
        if (private_module or (imp.name and _private(imp.name))) and target_package != importer_package:
            leaks.append(str(imp))
    assert not leaks, "private names imported across packages (make them public or move them):\n" + "\n".join(leaks)


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def internal_imports(package: str, imports=None) -> list[str]:
    """Imports of ``package``'s submodules from modules outside ``package``."""
    return [str(imp) for imp in (IMPORTS if imports is None else imports)
            if imp.module.startswith(package + ".") and not _inside(imp.importer, package)]


def test_the_annotator_is_used_through_its_public_api():
    leaks = internal_imports("interanimate.data.annotate")
    assert not leaks, ("modules outside interanimate.data.annotate import its internal modules (import the names "
                       "from interanimate.data.annotate, exporting them there if needed):\n" + "\n".join(leaks))


def test_the_public_api_check_sees_an_internal_import():
    made_up = [Import("interanimate.pipelines.motion", "interanimate.data.annotate.pipeline", "clean", 1),
               Import("interanimate.pipelines.motion", "interanimate.data.annotate", "analyse", 2),
               Import("interanimate.data.annotate.pipeline", "interanimate.data.annotate.analysis", "analyse", 3)]
    assert internal_imports("interanimate.data.annotate", made_up) == [str(made_up[0])]


def test_the_checker_sees_violations():
    # A cycle and an upward import, made up, are caught by the same functions the rules use.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    assert layer_of("interanimate.models.vae") < layer_of("interanimate.training.trainer")
    assert layer_of("interanimate.data.command") == COMMANDS_LAYER

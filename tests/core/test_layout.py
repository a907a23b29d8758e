"""The house rules of docs/architecture.md, checked on the source itself.

Every import counts, the lazy ones inside functions too: a circle that only closes when a
function runs is still a circle a reader has to untangle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGES = ("dancerev_core", "addon")
# modules that need torch as they load; every other core module must load without it
TORCH_AT_IMPORT = ("dancerev_core.evaluation.classifier", "dancerev_core.lifting.train",
                   "dancerev_core.model.beat_phase", "dancerev_core.model.checkpoint",
                   "dancerev_core.model.fast_decode",
                   "dancerev_core.model.network", "dancerev_core.training.batches",
                   "dancerev_core.training.checkpointing", "dancerev_core.training.hardware",
                   "dancerev_core.training.health_check", "dancerev_core.training.loop",
                   "dancerev_core.training.validation")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in its body)."""
    files = {module_name(path): path for package in PACKAGES
             for path in (REPO_ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(base + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in files else base)
        graph[module] = {target for target in targets if target in files} - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_circles():
    graph = import_graph()
    assert "dancerev_core.generation.pipeline" in graph  # the graph really is the project
    assert cycles(graph) == []


def test_a_cycle_is_found_where_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_commands_never_import_cli_and_stages_never_import_commands():
    graph = import_graph()
    commands = {m for m in graph if m.startswith("dancerev_core.commands")}
    assert not [m for m in commands if "dancerev_core.cli" in graph[m]]
    front = commands | {"dancerev_core.cli", "dancerev_core.__main__"}
    assert not {m: sorted(graph[m] & commands) for m in graph
                if m not in front and graph[m] & commands}


def run_blocked(blocked: tuple[str, ...], body: str) -> None:
    """Run `body` in a fresh interpreter in which the `blocked` packages cannot be imported."""
    code = (f"import importlib, pkgutil, sys\nfor name in {blocked!r}:\n"
            "    sys.modules[name] = None\nimport dancerev_core\n" + body)
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=120)


def test_only_the_ml_modules_need_torch_or_librosa_to_load():
    """Everything else imports them lazily, so the add-on and the command line start fast."""
    run_blocked(("torch", "librosa", "numba"), (
        f"skip = {TORCH_AT_IMPORT!r}\n"
        "for info in pkgutil.walk_packages(dancerev_core.__path__, 'dancerev_core.'):\n"
        "    if not (info.name.endswith('__main__') or info.name.startswith(skip)):\n"
        "        importlib.import_module(info.name)\n"))


def test_what_blender_loads_needs_numpy_alone():
    """Formats, motion, retargeting and lifting load inside Blender's own Python."""
    run_blocked(("torch", "librosa", "numba", "scipy", "soundfile", "av", "soxr",
                 "safetensors", "tqdm", "matplotlib", "bottleneck"), (
        "for name in ('motion', 'skeletons', 'joint_maps', 'body_frame', 'files', 'errors',\n"
        "             'smoothing', 'formats.reading', 'formats.motion_npz', 'formats.bvh',\n"
        "             'retarget', 'lifting.pipeline', 'music.audio'):\n"
        "    importlib.import_module('dancerev_core.' + name)\n"))

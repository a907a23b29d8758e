#!/usr/bin/env python3
"""Build the Blender extension zip: `python build.py [--output-dir dist]`.

Assembles `addon/` (the add-on package root), `dancerev_core/` and `rigs/` with
`blender_manifest.toml` in a staging folder, then validates and builds it with Blender's own
`blender_ext.py`, found inside the installed `bpy` package (never copied here). The worker's
runtime pins (pyproject.toml's `ml` extra, their one home) go into
`runtime_requirements.txt` for the add-on's runtime installer. Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
RUNTIME_REQUIREMENTS = "runtime_requirements.txt"  # read by addon/runtime.py


def find_blender_ext() -> Path:
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("build.py: the bpy package is not installed (run: bash .ci/with-venv "
                 "python build.py)")
    package = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(package.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        sys.exit(f"build.py: blender_ext.py not found inside {package}")
    return found[-1]


def valid_tags_file(blender_ext: Path, folder: Path) -> Path:
    """Blender's own tag lists (`_bpy_internal/extensions/tags.py`) as the JSON it expects."""
    scripts = blender_ext.parents[3]
    source = scripts / "modules" / "_bpy_internal" / "extensions" / "tags.py"
    tags: dict[str, list[str]] = {}
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = {"addons": "add-on", "themes": "theme"}.get(node.targets[0].id)
            if name:
                tags[name] = sorted(ast.literal_eval(node.value))
    path = folder / "tags.json"
    path.write_text(json.dumps(tags))
    return path


def manifest_version() -> str:
    match = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "blender_manifest.toml").read_text(),
                      re.MULTILINE)
    if not match:
        sys.exit("build.py: blender_manifest.toml has no version")
    return match.group(1)


def core_version() -> str:
    tree = ast.parse((ROOT / "dancerev_core" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__version__":
            return ast.literal_eval(node.value)
    sys.exit("build.py: dancerev_core has no __version__")


def runtime_requirements() -> list[str]:
    """The worker runtime's pins: the `ml` extra of pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as stream:
        return list(tomllib.load(stream)["project"]["optional-dependencies"]["ml"])


def stage(folder: Path) -> Path:
    source = folder / "dancerev"
    shutil.copytree(ROOT / "addon", source, ignore=IGNORED)
    shutil.copytree(ROOT / "dancerev_core", source / "dancerev_core", ignore=IGNORED)
    shutil.copytree(ROOT / "rigs", source / "rigs", ignore=IGNORED)
    shutil.copy(ROOT / "blender_manifest.toml", source)
    shutil.copy(ROOT / "LICENSE", source)
    (source / RUNTIME_REQUIREMENTS).write_text(
        "# The worker's runtime, written by build.py from pyproject.toml's ml extra\n"
        + "".join(f"{line}\n" for line in runtime_requirements()), encoding="utf-8")
    return source


def build(output_dir: Path) -> Path:
    version = manifest_version()
    if version != core_version():
        sys.exit(f"build.py: blender_manifest.toml version {version} differs from "
                 f"dancerev_core {core_version()}")
    blender_ext = find_blender_ext()
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / f"dancerev-{version}.zip"
    with tempfile.TemporaryDirectory() as temp:
        source = stage(Path(temp))
        tags = valid_tags_file(blender_ext, Path(temp))
        python = sys.executable
        for command in (
            [python, str(blender_ext), "validate", str(source), f"--valid-tags={tags}"],
            [python, str(blender_ext), "build", "--source-dir", str(source),
             "--output-filepath", str(output), f"--valid-tags={tags}"],
        ):
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                sys.exit(f"build.py: {command[2]} failed:\n{result.stdout}{result.stderr}")
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    print(f"built {build(args.output_dir)}")


if __name__ == "__main__":
    main()

"""Where a project keeps a node's host facts, and loading them for a command (check, explain, facts)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..facts import HostFacts


def facts_path(project_dir: Path, node: str) -> Path:
    """`<project-dir>/stacks/facts/<node>.json`: what `pve-gpu-lxc facts` writes and the commands read."""
    return project_dir / "stacks" / "facts" / f"{node}.json"


def load_node_facts(node: str, given: Mapping[str, Path], project_dir: Path) -> HostFacts | None:
    """--facts NODE=FILE when given, else the project's file when it exists, else None.

    A given file, or the project's file once it exists, must load: ValidationError says why not."""
    path = given.get(node)
    if path is None:
        path = facts_path(project_dir, node)
        if not path.is_file():
            return None
    return HostFacts.load(path)

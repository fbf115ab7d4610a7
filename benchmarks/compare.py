"""Comparing two synthesized cdktf output directories (pure apart from reading files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load_stacks(outdir: str | Path) -> dict[str, Any]:
    """Stack name -> parsed cdk.tf.json, for every stack under `outdir`/stacks."""
    root = Path(outdir) / "stacks"
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(root.glob("*/cdk.tf.json"))}


def json_bytes(outdir: str | Path) -> int:
    """Total size of the synthesized Terraform JSON files."""
    return sum(p.stat().st_size for p in (Path(outdir) / "stacks").glob("*/cdk.tf.json"))


def diff(a: Any, b: Any, path: str = "", limit: int = 20) -> list[str]:
    """Where two JSON trees differ, as readable paths (at most `limit`); [] when equal."""
    out: list[str] = []
    _diff(a, b, path or "$", out, limit)
    return out


def _diff(a: Any, b: Any, path: str, out: list[str], limit: int) -> None:
    if len(out) >= limit:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            if key not in b:
                out.append(f"{path}.{key}: only in ours")
            elif key not in a:
                out.append(f"{path}.{key}: only in raw")
            else:
                _diff(a[key], b[key], f"{path}.{key}", out, limit)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", out, limit)
        return
    if a != b or type(a) is not type(b):
        out.append(f"{path}: ours {_short(a)} != raw {_short(b)}")


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."

"""Where Terraform keeps each stack's state: chosen by environment, not by code (pure).

    PVE_GPU_LXC_BACKEND=local   (default) terraform.<stack>.tfstate in the project
                                directory (PVE_GPU_LXC_STATE_DIR overrides it)
    PVE_GPU_LXC_BACKEND=pg      Terraform's built-in PostgreSQL backend, which locks
                                the state while a plan or apply runs; one schema
                                per stack.  The connection string is read by
                                Terraform from PG_CONN_STR at init time and is
                                never written into the synthesized JSON.

The rules are here; `cdk/backend.py` attaches the backend to a stack.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from ..core.errors import ValidationError

BACKEND_VAR = "PVE_GPU_LXC_BACKEND"
STATE_DIR_VAR = "PVE_GPU_LXC_STATE_DIR"
SCHEMA_PREFIX_VAR = "PVE_GPU_LXC_PG_SCHEMA_PREFIX"
BACKENDS = ("local", "pg")
DEFAULT_SCHEMA_PREFIX = "pve_gpu_lxc_"


def backend_kind(environ: Mapping[str, str]) -> str:
    """The backend named by PVE_GPU_LXC_BACKEND (default local); raises on anything else."""
    value = environ.get(BACKEND_VAR, "").strip()
    if value == "":
        return "local"
    if value not in BACKENDS:
        raise ValidationError(
            f"{BACKEND_VAR}={value!r} is not a known state backend: "
            f"use one of {', '.join(BACKENDS)} (or leave it unset for local)"
        )
    return value


def pg_schema_name(stack_name: str, prefix: str = DEFAULT_SCHEMA_PREFIX) -> str:
    """A PostgreSQL schema for one stack: lower case, [a-z0-9_] only, at most 63 bytes."""
    name = re.sub(r"[^a-z0-9_]", "_", f"{prefix}{stack_name}".lower())
    if not re.match(r"[a-z_]", name):
        name = f"s_{name}"
    if len(name) > 63:  # PostgreSQL truncates identifiers silently: refuse instead
        raise ValidationError(
            f"PostgreSQL schema name {name!r} for stack {stack_name!r} is longer than 63 "
            f"characters: shorten the stack name or {SCHEMA_PREFIX_VAR}"
        )
    return name


def schema_prefix(environ: Mapping[str, str]) -> str:
    return environ.get(SCHEMA_PREFIX_VAR) or DEFAULT_SCHEMA_PREFIX


def local_state_path(outdir: str, stack_name: str, environ: Mapping[str, str]) -> str:
    """terraform.<stack>.tfstate in the state directory, relative to the stack's working directory.

    Terraform runs in <outdir>/stacks/<stack>; a relative path keeps the synthesized JSON
    free of machine-specific absolute paths while the state stays outside cdktf.out (which
    `make clean` and re-synthesis remove).  `outdir` is the app's output directory.
    """
    state_dir = Path(environ.get(STATE_DIR_VAR) or os.getcwd()).resolve()
    out = Path(outdir)
    if not out.is_absolute():
        out = Path(os.getcwd()) / out
    workdir = out.resolve() / "stacks" / stack_name
    return os.path.relpath(state_dir / f"terraform.{stack_name}.tfstate", workdir)

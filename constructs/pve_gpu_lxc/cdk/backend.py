"""Where Terraform keeps each stack's state: the backend the environment chooses, on a stack.

The rules (which backend, the schema name, the state path) are the model's
(`model/backend.py`); this module attaches the chosen cdktf backend to a stack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..engine import App, LocalBackend, PgBackend, TerraformBackend, TerraformStack
from ..model.backend import (
    BACKEND_VAR,
    SCHEMA_PREFIX_VAR,
    STATE_DIR_VAR,
    backend_kind,
    local_state_path,
    pg_schema_name,
    schema_prefix,
)

__all__ = [
    "BACKEND_VAR",
    "SCHEMA_PREFIX_VAR",
    "STATE_DIR_VAR",
    "backend_kind",
    "configure_backend",
    "pg_schema_name",
]


class _EnvPgBackend(PgBackend):
    """PgBackend without conn_str: Terraform falls back to the PG_CONN_STR variable.

    cdktf's PgBackend requires conn_str and would write it into cdk.tf.json;
    the connection string holds the database password, so it must stay out.
    """

    def __init__(self, scope: TerraformStack, *, schema_name: str) -> None:
        super().__init__(scope, conn_str="", schema_name=schema_name)
        self._schema_name = schema_name

    def _synthesize_attributes(self) -> dict[str, str]:  # jsii override of synthesizeAttributes
        return {"schema_name": self._schema_name}

    def _synthesize_hcl_attributes(self) -> dict[str, str]:
        return {"schema_name": self._schema_name}


def configure_backend(
    stack: TerraformStack, stack_name: str, environ: Mapping[str, str] = os.environ
) -> TerraformBackend:
    """Attach the state backend chosen by PVE_GPU_LXC_BACKEND to `stack` and return it."""
    kind = backend_kind(environ)
    if kind == "pg":
        return _EnvPgBackend(stack, schema_name=pg_schema_name(stack_name, schema_prefix(environ)))
    return LocalBackend(stack, path=local_state_path(App.of(stack).outdir, stack_name, environ))

"""configure_backend: local state by default, PostgreSQL by configuration, no secret in JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pve_gpu_lxc.engine import App, TerraformStack
from pve_gpu_lxc.engine import Testing as CdktfTesting

from pve_gpu_lxc import configure_backend
from pve_gpu_lxc.model.backend import pg_schema_name
from pve_gpu_lxc import ValidationError

CONN_STR = "postgres://tf:hunter2-secret@db.lan:5432/tfstate?sslmode=require"


def synth_backend(app: App, name: str, environ: dict[str, str]) -> dict:
    stack = TerraformStack(app, name)
    configure_backend(stack, name, environ)
    return json.loads(CdktfTesting.synth(stack))["terraform"]["backend"]


def test_default_is_local_state_named_after_the_stack(tmp_path: Path):
    app = App(outdir=str(tmp_path / "cdktf.out"))
    backend = synth_backend(app, "intel-jellyfin", {"PVE_GPU_LXC_STATE_DIR": str(tmp_path)})
    assert list(backend) == ["local"]
    path = backend["local"]["path"]
    # relative to the directory terraform runs in, and outside cdktf.out
    assert path == "../../../terraform.intel-jellyfin.tfstate"
    workdir = tmp_path / "cdktf.out" / "stacks" / "intel-jellyfin"
    assert (workdir / path).resolve() == tmp_path / "terraform.intel-jellyfin.tfstate"


def test_local_is_accepted_explicitly(tmp_path: Path):
    app = App(outdir=str(tmp_path / "out"))
    backend = synth_backend(app, "s", {"PVE_GPU_LXC_BACKEND": "local", "PVE_GPU_LXC_STATE_DIR": str(tmp_path)})
    assert backend["local"]["path"] == "../../../terraform.s.tfstate"


def test_pg_backend_has_a_schema_per_stack():
    app = CdktfTesting.app()
    env = {"PVE_GPU_LXC_BACKEND": "pg", "PG_CONN_STR": CONN_STR}
    one = synth_backend(app, "intel-jellyfin", env)
    two = synth_backend(app, "nvidia-ollama", env)
    assert one == {"pg": {"schema_name": "pve_gpu_lxc_intel_jellyfin"}}
    assert two == {"pg": {"schema_name": "pve_gpu_lxc_nvidia_ollama"}}


def test_pg_connection_string_never_reaches_the_synthesized_json(tmp_path: Path):
    env = {"PVE_GPU_LXC_BACKEND": "pg", "PG_CONN_STR": CONN_STR}
    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "intel-jellyfin")
    configure_backend(stack, "intel-jellyfin", env)
    app.synth()
    written = "".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert '"pg"' in written
    assert "conn_str" not in written
    assert "hunter2-secret" not in written and "db.lan" not in written


def test_schema_prefix_is_configurable_and_sanitised():
    assert pg_schema_name("Intel-Jellyfin", "team-a_") == "team_a_intel_jellyfin"
    app = CdktfTesting.app()
    backend = synth_backend(app, "s", {"PVE_GPU_LXC_BACKEND": "pg", "PVE_GPU_LXC_PG_SCHEMA_PREFIX": "lab_"})
    assert backend == {"pg": {"schema_name": "lab_s"}}


def test_schema_name_longer_than_postgres_allows_is_refused():
    with pytest.raises(ValidationError, match=r"longer than 63 characters.*shorten the stack name"):
        pg_schema_name("x" * 60)


def test_unknown_backend_names_the_variable_and_the_allowed_values():
    app = CdktfTesting.app()
    with pytest.raises(ValidationError) as info:
        synth_backend(app, "s", {"PVE_GPU_LXC_BACKEND": "s3"})
    assert str(info.value) == (
        "PVE_GPU_LXC_BACKEND='s3' is not a known state backend: use one of local, pg "
        "(or leave it unset for local)"
    )

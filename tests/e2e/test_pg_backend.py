"""Shared state in PostgreSQL: deploy through Terraform's pg backend and race two applies.

A private PostgreSQL (Debian's `postgresql`) runs on 127.0.0.1 for this module
only.  The example stack intel-jellyfin is synthesized with
PVE_GPU_LXC_BACKEND=pg and copied into two working directories, as two CI
runners would have it.  The first apply is held at its approval prompt, which
keeps the state lock; meanwhile the second apply must fail cleanly or wait, and
the simulated node must end up with exactly one container config.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc_testing.pg import PgServer
from pve_gpu_lxc_testing.pg.scratch_app import write_scratch_project
from pve_gpu_lxc_testing.e2e.harness import SimEnv, copy_stack

pytestmark = pytest.mark.e2e

STACK = "intel-jellyfin"
SCHEMA = "pve_gpu_lxc_intel_jellyfin"
CONTAINER = "proxmox_virtual_environment_container.jellyfin"


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = PgServer.start()
    try:
        server.create_database("tfstate")
        yield server
    finally:
        server.stop()


@dataclass
class Runners:
    a: Path  # <runner>/stacks/intel-jellyfin, each initialised against the same database
    b: Path
    env: dict[str, str]
    sim: SimEnv

    def tf(self, workdir: Path, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([self.sim.terraform_path, *args], cwd=workdir, env=self.env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode in ok, f"terraform {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def popen(self, workdir: Path, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([self.sim.terraform_path, *args], cwd=workdir, env=self.env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def runners(pg: PgServer, shared_sim: SimEnv, tmp_path_factory: pytest.TempPathFactory) -> Runners:
    base = tmp_path_factory.mktemp("pg-state")
    env = {**os.environ, **shared_sim.env, "PVE_GPU_LXC_BACKEND": "pg",
           "PG_CONN_STR": pg.conn_str("tfstate")}
    # synthesized with the pg backend chosen by configuration alone
    project = write_scratch_project(base / "project", only=(STACK,))
    synth_env = {k: v for k, v in env.items() if k != "PG_CONN_STR"}  # synthesis must not need it
    outdir = project / "cdktf.out"
    subprocess.run([sys.executable, "main.py"], cwd=project, env={**synth_env, "CDKTF_OUTDIR": str(outdir)},
                   check=True, timeout=120)
    synthesized = json.loads((outdir / "stacks" / STACK / "cdk.tf.json").read_text())
    assert synthesized["terraform"]["backend"] == {"pg": {"schema_name": SCHEMA}}
    r = Runners(copy_stack(outdir / "stacks" / STACK, base / "runner-a" / "stacks" / STACK),
                copy_stack(outdir / "stacks" / STACK, base / "runner-b" / "stacks" / STACK), env, shared_sim)
    for workdir in (r.a, r.b):
        r.tf(workdir, "init", "-input=false", "-no-color")
    return r


def _wait_for_prompt(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """Read the first apply's output up to its approval prompt (it holds the lock there)."""
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while "Enter a value:" not in seen:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError(f"apply did not reach its approval prompt:\n{seen}")
        ch = proc.stdout.read(1)
        if not ch:
            break
        seen += ch
    return seen


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()  # by object: only the terraform this test started
        proc.wait(timeout=10)


def _conf_files(sim: SimEnv) -> list[str]:
    return sorted(p.name for p in (sim.node_root / "etc/pve/lxc").glob("*.conf"))


def test_concurrent_applies_one_holds_the_lock_the_other_fails_or_waits(runners: Runners, pg: PgServer, capsys):
    first = runners.popen(runners.a, "apply", "-input=true", "-no-color")
    waiting: subprocess.Popen[str] | None = None
    try:
        _wait_for_prompt(first)

        # a second runner applying at the same moment: refused, state untouched
        second = runners.tf(runners.b, "apply", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=0s",
                            ok=(1,))
        assert "Error acquiring the state lock" in second.stderr
        assert _conf_files(runners.sim) == []

        # the drift command on the locked state: one line naming the holder's lock and the way out, exit 1
        code = cli.main(["drift", "--no-synth", "--outdir", str(runners.b.parents[1])], environ=runners.env)
        assert code == 1
        # (Terraform's own Lock Info is the refused run's request: each refused run prints its own ID)
        ids = re.findall(r"ID:\s+(\S+)", second.stderr)
        assert len(ids) == 1, second.stderr
        assert capsys.readouterr().err.splitlines() == [
            f"pve-gpu-lxc drift: error: {STACK}: terraform plan failed: Error acquiring the state lock: another "
            "run's PostgreSQL session holds it (Terraform's Lock Info names this run's own request: an advisory "
            "lock has no record of its holder); PostgreSQL drops the lock when that session ends, a killed run's "
            "too: wait for it (--lock-timeout 120s) or end that run"]

        # a third one told to wait for the lock blocks until the first finishes
        waiting = runners.popen(runners.b, "apply", "-auto-approve", "-input=false", "-no-color",
                                "-lock-timeout=60s")
        time.sleep(1.5)
        assert waiting.poll() is None, "the waiting apply did not wait for the lock"

        out, _ = first.communicate("yes\n", timeout=120)
        assert first.returncode == 0, out
        assert "Apply complete! Resources: 1 added" in out

        waited_out, _ = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, waited_out
        # it saw the first runner's state: nothing left to create
        assert "No changes." in waited_out and "added" not in waited_out.replace("0 added", "")
    finally:
        _stop(first)
        if waiting is not None:
            _stop(waiting)

    assert _conf_files(runners.sim) == ["210.conf"]  # exactly one container, created once

    # the state in PostgreSQL is whole: one workspace, the container in it, both runners agree
    assert pg.psql("tfstate", f"select string_agg(name, ',') from {SCHEMA}.states").strip() == "default"
    state = json.loads(pg.psql("tfstate", f"select data from {SCHEMA}.states where name = 'default'"))
    managed = [r for r in state["resources"] if r["mode"] == "managed"]  # not the guard's listing (a data source)
    addresses = [f"{r['type']}.{r['name']}" for r in managed]
    assert addresses.count(CONTAINER) == 1
    assert managed[addresses.index(CONTAINER)]["instances"][0]["attributes"]["vm_id"] == 210
    for workdir in (runners.a, runners.b):
        assert runners.tf(workdir, "plan", "-detailed-exitcode", "-input=false", "-no-color").returncode == 0

    # and the drift command reads the shared state: clean
    assert cli.main(["drift", "--no-synth", "--outdir", str(runners.a.parents[1])], environ=runners.env) == 0


def test_no_lock_is_left_behind(runners: Runners, pg: PgServer):
    # Terraform's pg backend locks with a session advisory lock; none may outlive the runs
    locks = pg.psql("tfstate", "select count(*) from pg_locks where locktype = 'advisory'")
    assert locks.strip() == "0"

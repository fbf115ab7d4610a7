"""The vm_id guard (issue 19) with the real bpg/proxmox provider, Terraform, OpenTofu and cdktf-cli
against the simulated node.

bpg 0.111.1 treats a create that fails with "already exists" as done, so without the guard an apply
of intel-jellyfin adopts another team's container at vm_id 210: it exits 0, writes our lxc.idmap
lines into that container's file over SSH, and a destroy would delete it.  Here:

* another team's `postgres-prod`, written by hand at vm_id 210, stops the plan of intel-jellyfin
  (plain terraform, OpenTofu, `cdktf deploy`, `pve-gpu-lxc drift --plan`) before anything changes,
  naming 210, pve and postgres-prod; the node is byte-identical and nothing is in the state;
  `drift` and `check` report the collision with its fix;
* the stack's own container, created by the provider and then lost from the state (what an apply
  killed after the create leaves behind), is reported as an orphan and adopted by the next apply,
  whose second plan is empty; a tag removed by hand stops the plan until the fix it prints is done;
* an orphan carrying the stack's tag at a vm_id the stack does not have is reported by drift and check;
* `import_existing=True` imports a container made by hand: the apply adds the tag, the plan after
  is empty; with another host name declared, the guard stops it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc_testing import tools
from pve_gpu_lxc_testing.e2e.harness import (
    FACTS, QUIET_ENV, REPO_ROOT, SimEnv, copy_stack, stack_dir, synth_app, warnings_in,
)

from .test_example_stacks import EXAMPLES, without_disk_number

pytestmark = pytest.mark.e2e

CONTAINER = "proxmox_virtual_environment_container"
JELLYFIN = f"{CONTAINER}.jellyfin"
# another team's database, as `pct create 210 ... --hostname postgres-prod` leaves it on the node
POSTGRES_PROD = """\
arch: amd64
cores: 4
features: nesting=1
hostname: postgres-prod
memory: 8192
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:A1:07,ip=dhcp,type=veth
ostype: debian
rootfs: local-lvm:vm-210-disk-0,size=32G
swap: 512
tags: db;prod
unprivileged: 1
"""
WRITES = ("POST", "PUT", "DELETE")


def hand_made(sim: SimEnv, vmid: int, conf: str) -> bytes:
    """A container written on the node by hand (its conf file and its root disk); its conf's bytes."""
    sim.seed_volume(f"local-lvm:vm-{vmid}-disk-0", b"")
    sim.conf_path(vmid).write_text(conf)
    return sim.conf_path(vmid).read_bytes()


def writes_since(sim: SimEnv, start: int) -> list[str]:
    """Requests that change something, after the first `start` requests (a login is no change)."""
    return [r for r in sim.sim.requests()[start:] if r.startswith(WRITES) and not r.endswith("/access/ticket")]


def in_state(sim: SimEnv, stack: Path) -> list[str]:
    """The addresses in the stack's state ([] when there is no state at all)."""
    proc = sim.terraform(stack, "state", "list", "-no-color", ok=(0, 1))
    if proc.returncode == 1:
        assert "No state file was found" in proc.stderr, proc.stderr
        return []
    return proc.stdout.split()


def drift_cli(sim: SimEnv, out: Path, *args: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
              command: str = "drift") -> tuple[int, str, str, dict]:
    report = tmp_path / f"{command}-{len(list(tmp_path.glob(f'{command}-*.json')))}.json"
    base = [command, "--no-synth", "--outdir", str(out), "--json", str(report)]
    base += ["--facts", f"pve={FACTS}"] if command == "check" else ["--project-dir", str(REPO_ROOT)]
    capsys.readouterr()
    code = cli.main([*base, *args], environ={**os.environ, **sim.env})
    captured = capsys.readouterr()
    return code, captured.out, captured.err, json.loads(report.read_text())


# --- another team's container at our vm_id ---------------------------------------------------------


@dataclass
class Collided:
    sim: SimEnv
    out: Path  # the example stacks, synthesized for this node
    postgres: bytes  # its conf file as written
    fingerprint: dict[str, tuple[object, ...]]  # the whole node before anything ran
    requests: int  # requests served before anything ran


@pytest.fixture(scope="module")
def collided(shared_sim: SimEnv) -> Collided:
    out = synth_app(shared_sim.work_dir / "guard-out", env=shared_sim.env,
                    state_dir=shared_sim.work_dir / "guard-state")
    postgres = hand_made(shared_sim, 210, POSTGRES_PROD)
    return Collided(shared_sim, out, postgres, shared_sim.node_fingerprint(), len(shared_sim.sim.requests()))


def assert_untouched(c: Collided) -> None:
    assert c.sim.conf_path(210).read_bytes() == c.postgres
    assert c.sim.node_fingerprint() == c.fingerprint  # every file, mode, owner and ctime as before
    assert writes_since(c.sim, c.requests) == []


def assert_guard_message(output: str) -> None:
    """The guard's diagnostic, as Terraform, OpenTofu or cdktf-cli (colours, boxes, wrapped lines) print it."""
    text = " ".join(re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", output).replace("│", " ").split())
    assert "Resource precondition failed" in text
    assert ("GpuContainer 'jellyfin' of stack 'intel-jellyfin': vm_id 210 is taken by container 'postgres-prod' on "
            "node pve (tags: db;prod), which this stack did not create") in text
    assert "`pct set 210 --tags 'gpu;media;pve-gpu-lxc.intel-jellyfin.jellyfin'`" in text


def test_terraform_apply_fails_at_plan_and_leaves_postgres_prod_alone(collided: Collided) -> None:
    sim, stack = collided.sim, stack_dir(collided.out, "intel-jellyfin")
    sim.init(stack)
    proc = sim.terraform(stack, "apply", "-auto-approve", "-input=false", "-no-color", ok=(1,))
    assert_guard_message(proc.stderr)
    assert "Creating..." not in proc.stdout and "Apply complete" not in proc.stdout
    assert_untouched(collided)
    assert in_state(sim, stack) == []  # not even the listing: a failed plan writes no state


def test_opentofu_stops_at_the_same_guard(collided: Collided, tmp_path: Path) -> None:
    stack = copy_stack(stack_dir(collided.out, "intel-jellyfin"), tmp_path / "tofu")
    tofu = tools.tofu_binary()
    collided.sim.run([tofu, "init", "-input=false", "-no-color"], stack)
    proc = collided.sim.run([tofu, "plan", "-input=false", "-no-color"], stack, ok=(1,))
    assert_guard_message(proc.stderr)
    assert_untouched(collided)


def test_cdktf_deploy_stops_at_the_guard(collided: Collided) -> None:
    sim = collided.sim
    proc = sim.cdktf(sim.project, "deploy", "intel-jellyfin", "--auto-approve", "--skip-provider-lock", ok=(1,))
    assert_guard_message(proc.stdout + proc.stderr)
    assert_untouched(collided)
    # the other stack, whose vm_id is free, deploys on the same node as before
    sim.cdktf_deploy("nvidia-ollama", skip_synth=True)
    assert "Apply complete!" in sim.last_output and warnings_in(sim.last_output) == []
    assert sim.conf_path(210).read_bytes() == collided.postgres
    collided.fingerprint, collided.requests = sim.node_fingerprint(), len(sim.sim.requests())


def test_drift_and_check_report_the_collision_with_its_fix(collided: Collided, capsys, tmp_path: Path) -> None:
    sim, out = collided.sim, collided.out
    code, text, err, report = drift_cli(sim, out, "--plan", "--stack", "intel-jellyfin", capsys=capsys,
                                        tmp_path=tmp_path)
    assert code == 1 and report["stacks"][0]["status"] == "error"
    assert ("terraform plan failed: Resource precondition failed: GpuContainer 'jellyfin' of stack 'intel-jellyfin': "
            "vm_id 210 is taken by container 'postgres-prod' on node pve (tags: db;prod)") in err
    code, text, _, report = drift_cli(sim, out, "--stack", "intel-jellyfin", capsys=capsys, tmp_path=tmp_path)
    assert code == 2, text  # a refresh-only plan: Terraform warns, the report names it
    (collision,) = report["stacks"][0]["ownership"]
    assert (collision["kind"], collision["address"], collision["vmid"]) == ("collision", JELLYFIN, 210)
    assert "container 'postgres-prod' on node pve" in collision["problem"]
    code, text, _, report = drift_cli(sim, out, "intel-jellyfin", capsys=capsys, tmp_path=tmp_path, command="check")
    assert code == 2, text
    (ct,) = report["stacks"][0]["containers"]
    assert ct["checked"] == ["ownership"] and [f["item"] for f in ct["findings"]] == ["ownership"]
    assert ct["findings"][0]["problem"].startswith(
        "vm_id 210 is taken by container 'postgres-prod' on node pve (tags: db;prod), which this stack did not create")
    assert_untouched(collided)


# --- the stack's own container: half-created, a tag lost, an orphan ----------------------------------


def test_an_own_container_lost_from_the_state_is_adopted_and_the_second_plan_is_empty(
        sim: SimEnv, capsys, tmp_path: Path) -> None:
    out = synth_app(tmp_path / "out", env=sim.env, state_dir=tmp_path / "state")
    stack = stack_dir(out, "intel-jellyfin")
    sim.apply(stack)
    created = sim.conf_text(210)
    assert "tags: gpu;media;pve-gpu-lxc.intel-jellyfin.jellyfin\n" in created  # in the create request itself
    # what an apply killed right after bpg's create leaves: the container on the node, not in the state
    sim.terraform(stack, "state", "rm", JELLYFIN)
    code, text, _, report = drift_cli(sim, out, "--stack", "intel-jellyfin", capsys=capsys, tmp_path=tmp_path)
    assert code == 2, text
    (orphan,) = report["stacks"][0]["ownership"]
    assert (orphan["kind"], orphan["vmid"], orphan["name"]) == ("orphan", 210, "jellyfin")
    assert orphan["fix"].startswith(f"the next deploy adopts it as {JELLYFIN}")

    proc = sim.apply(stack)  # the guard passes (the stack's tag); bpg's create finds "already exists"
    assert "Apply complete! Resources: 1 added" in proc.stdout and warnings_in(proc.stdout + proc.stderr) == []
    assert sim.conf_text(210) == created
    assert sim.plan(stack) == 0  # the second plan is empty
    assert sim.drift(stack).resource_drift == []
    assert without_disk_number(created) == without_disk_number(EXAMPLES["intel-jellyfin"].expected())

    # the tag removed by hand: the guard cannot tell the container from another's, and says how to fix it
    conf = sim.conf_path(210)
    conf.write_text(created.replace("tags: gpu;media;pve-gpu-lxc.intel-jellyfin.jellyfin\n", "tags: gpu;media\n"))
    proc = sim.terraform(stack, "plan", "-input=false", "-no-color", ok=(1,))
    text = " ".join(proc.stderr.split())
    assert "vm_id 210 is taken by container 'jellyfin' on node pve (tags: gpu;media)" in text
    fix = re.search(r"`pct set 210 --tags '([^']+)'`", text)
    assert fix is not None and fix.group(1) == "gpu;media;pve-gpu-lxc.intel-jellyfin.jellyfin"
    conf.write_text(created.replace("tags: gpu;media;pve-gpu-lxc.intel-jellyfin.jellyfin\n",
                                    f"tags: {fix.group(1)}\n"))  # what `pct set 210 --tags ...` writes
    assert sim.plan(stack) == 0

    # an orphan: the stack's tag at a vm_id no container of the stack has
    hand_made(sim, 212, POSTGRES_PROD.replace("hostname: postgres-prod", "hostname: old-jellyfin")
              .replace("vm-210-disk-0", "vm-212-disk-0")
              .replace("tags: db;prod", "tags: pve-gpu-lxc.intel-jellyfin.old-jellyfin"))
    code, text, _, report = drift_cli(sim, out, "--stack", "intel-jellyfin", capsys=capsys, tmp_path=tmp_path)
    assert code == 2, text
    (orphan,) = report["stacks"][0]["ownership"]
    assert (orphan["kind"], orphan["vmid"], orphan["name"]) == ("orphan", 212, "old-jellyfin")
    assert orphan["fix"].startswith("remove it on pve: `pct destroy 212`")
    assert "    orphan: CT 212 ('old-jellyfin') on node pve carries this stack's tag" in text
    code, text, _, report = drift_cli(sim, out, "intel-jellyfin", capsys=capsys, tmp_path=tmp_path, command="check")
    assert code == 2, text
    (orphan,) = report["stacks"][0]["orphans"]
    assert orphan["subject"] == "CT 212 on pve" and "`pct destroy 212`" in orphan["fix"]
    assert report["stacks"][0]["containers"][0]["findings"] == []
    assert sim.plan(stack) == 0  # an orphan stops no plan


# --- import_existing=True --------------------------------------------------------------------------

IMPORT_APP = """\
import sys
sys.path.insert(0, {repo!r})
from pve_gpu_lxc.engine import App, TerraformStack
from pve_gpu_lxc import GpuContainer, IntelGpu, ProxmoxProvider, Template, configure_backend

app = App()
stack = TerraformStack(app, "imports")
configure_backend(stack, "imports")
ProxmoxProvider(stack, "proxmox")
GpuContainer(stack, "db", node_name="pve", vm_id=300, hostname={hostname!r}, tags=["db"],
             template=Template.existing("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst"),
             gpus=[IntelGpu(card=None, render=128)], import_existing=True)
app.synth()
"""
# made by hand on the node, as `pct create 300 local:vztmpl/debian-12-... --hostname postgres` leaves it
POSTGRES = """\
arch: amd64
cores: 2
features: nesting=1
hostname: postgres
memory: 2048
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:A1:08,ip=dhcp,type=veth
ostype: debian
rootfs: local-lvm:vm-300-disk-0,size=8G
swap: 512
tags: db
unprivileged: 1
"""


def _synth_import(sim: SimEnv, base: Path, hostname: str) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    (base / "main.py").write_text(IMPORT_APP.format(repo=str(REPO_ROOT), hostname=hostname))
    out = base / "cdktf.out"
    env = {**os.environ, **QUIET_ENV, **sim.env, "CDKTF_OUTDIR": str(out), "PVE_GPU_LXC_STATE_DIR": str(base / "state")}
    proc = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "python"), "main.py"], cwd=base, env=env, text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return stack_dir(out, "imports")


def test_import_existing_takes_over_a_hand_made_container_and_tags_it(sim: SimEnv, tmp_path: Path) -> None:
    original = hand_made(sim, 300, POSTGRES)
    # the wrong host name declared: the import guard stops the plan, nothing changes
    wrong = _synth_import(sim, tmp_path / "wrong", "pg")
    sim.init(wrong)
    proc = sim.terraform(wrong, "plan", "-input=false", "-no-color", ok=(1,))
    text = " ".join(proc.stderr.split())
    assert ("GpuContainer 'db' of stack 'imports' imports vm_id 300 (import_existing=True) as host 'pg', but vm_id "
            "300 is container 'postgres' on node pve (tags: db)") in text
    assert sim.conf_path(300).read_bytes() == original

    stack = _synth_import(sim, tmp_path / "right", "postgres")
    proc = sim.apply(stack)
    assert "Apply complete! Resources: 1 imported, 0 added, 1 changed, 0 destroyed." in proc.stdout
    assert warnings_in(proc.stdout + proc.stderr) == []
    conf = sim.conf_text(300)
    assert "tags: db;pve-gpu-lxc.imports.db\n" in conf and "hostname: postgres\n" in conf
    assert "dev0: path=/dev/dri/renderD128," in conf or "dev0: deny-write=0,path=/dev/dri/renderD128," in conf
    assert "rootfs: local-lvm:vm-300-disk-0,size=8G\n" in conf  # the same disk: imported, never replaced
    assert sim.plan(stack) == 0  # the plan after is empty (the import block is a no-op now)
    assert sim.drift(stack).resource_drift == []

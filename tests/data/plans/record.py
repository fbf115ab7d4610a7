"""Re-record the container plan fixtures with the real bpg/proxmox provider against the simulated node.

    .venv/bin/python tests/data/plans/record.py

Needs the tools `make tools` builds (.tools/: bpg/proxmox and its mirror) and cdktf's
node_modules.  Starts a simulated Proxmox VE node (`pve_gpu_lxc_testing.e2e.harness.sim_env`)
in a temporary directory, synthesizes the example stack intel-jellyfin there (the provider
block carries the node's SSH address), applies it with the real provider, edits the node's
conf file the way a person at the PVE shell would, and keeps `terraform show -json` of the
plans:

  bpg-refresh-drift      gid of dev0 and cores changed, one idmap line deleted
  bpg-plan-drift         the same, as a normal plan (in-place update)
  bpg-plan-replace       `unprivileged: 0` written by hand: ForceNew, a replacement
  bpg-refresh-deleted    the conf file removed: the container is gone
  bpg-refresh-ownership  the container's ownership tag removed by hand (the guard's precondition
                         fails: a warning in a refresh-only plan), and a container with the
                         stack's tag at a vm_id no resource has (an orphan), written by hand
  bpg-plan-guard.txt     the diagnostics (stderr) of the normal plan in that state: the guard stops it
  bpg-refresh-tainted    a create whose SSH session died between bpg's `sed -i` and `tee -a`
                         (pvesim faults.py cut_session): tainted, the idmap lines missing
  bpg-plan-tainted       the same, as a normal plan (a replacement, replace_because_tainted)

Only the keys plan_report reads are kept (plus format/terraform version; of the state and the
configuration only the containers' vm_ids, the guard's listing and each resource's taint), so the
fixtures stay small.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
KEEP = ("format_version", "terraform_version", "resource_drift", "resource_changes",
        "output_changes", "applyable", "complete", "errored", "checks")
CONTAINER = "proxmox_virtual_environment_container"
LISTING = "proxmox_virtual_environment_containers"
STACK = "intel-jellyfin"
VMID = 210
TEMPLATES = ("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst",
             "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")


def main() -> None:
    sys.path.insert(0, str(ROOT / "constructs"))
    from pve_gpu_lxc_testing.e2e.harness import sim_env, stack_dir, synth_app

    with tempfile.TemporaryDirectory(prefix="record-plans-") as tmp, sim_env(Path(tmp) / "sim") as env:
        for volid in TEMPLATES:
            env.seed_volume(volid, b"template")
        # the product's local backend, whatever this shell's PVE_GPU_LXC_BACKEND says
        env.env["PVE_GPU_LXC_BACKEND"] = "local"
        out = synth_app(Path(tmp) / "cdktf.out", env=env.env, state_dir=Path(tmp) / "state")
        work = stack_dir(out, STACK)

        def record(name: str, *plan_args: str) -> None:
            _, plan = env.plan_json(work, *plan_args)
            small = {k: plan[k] for k in KEEP if k in plan}
            small.update(_ownership_parts(plan))
            (HERE / f"{name}.json").write_text(json.dumps(small, indent=1, sort_keys=True) + "\n")
            print("wrote", name)

        env.apply(work)
        conf = env.conf_path(VMID)
        original = conf.read_text()

        text, n_cores = re.subn(r"^cores: \d+$", "cores: 2", original, flags=re.M)
        text, n_gid = re.subn(r"^(dev0: .*)gid=44,", r"\1gid=45,", text, count=1, flags=re.M)
        text, n_idmap = re.subn(r"^lxc\.idmap: g 106 108 1\n", "", text, flags=re.M)
        if (n_cores, n_gid, n_idmap) != (1, 1, 1):
            raise SystemExit(f"{conf} is not what the edits expect:\n{original}")
        conf.write_text(text)
        record("bpg-refresh-drift", "-refresh-only")
        record("bpg-plan-drift")

        conf.write_text(original.replace("unprivileged: 1", "unprivileged: 0"))
        record("bpg-plan-replace")

        conf.unlink()
        record("bpg-refresh-deleted", "-refresh-only")

        conf.write_text(original)
        env.apply(work)  # as deployed again (the conf file's disk name may differ: not compared)
        deployed = conf.read_text()
        text, n_tags = re.subn(r"^tags: .*\n", "tags: gpu;media\n", deployed, flags=re.M)
        if n_tags != 1:
            raise SystemExit(f"{conf} has no tags line:\n{deployed}")
        conf.write_text(text)
        env.conf_path(212).write_text("arch: amd64\nhostname: old-jellyfin\nmemory: 512\nostype: debian\n"
                                      "rootfs: local-lvm:vm-212-disk-0,size=8G\n"
                                      "tags: pve-gpu-lxc.intel-jellyfin.old-jellyfin\nunprivileged: 1\n")
        record("bpg-refresh-ownership", "-refresh-only")
        proc = env.terraform(work, "plan", "-input=false", "-no-color", ok=(1,))
        (HERE / "bpg-plan-guard.txt").write_text(proc.stderr)  # the diagnostics (stdout: progress lines)
        print("wrote bpg-plan-guard.txt")

        env.destroy(work)
        env.sim.faults.cut_session(f"/etc/pve/lxc/{VMID}.conf", "kill")
        env.terraform(work, "apply", "-auto-approve", "-input=false", "-no-color", ok=(1,))
        record("bpg-refresh-tainted", "-refresh-only")
        record("bpg-plan-tainted")


def _ownership_parts(plan: dict) -> dict:
    """The containers' vm_ids, the guard's listing and the tainted resources, from the state and the
    configuration."""
    state = []
    for r in plan.get("prior_state", {}).get("values", {}).get("root_module", {}).get("resources", []):
        values = r.get("values") or {}
        # drift reports a tainted resource (an apply created it, then failed)
        taint = {"tainted": True} if r.get("tainted") else {}
        if r.get("type") == CONTAINER:
            state.append({k: r[k] for k in ("address", "mode", "type")} | {"values": {"vm_id": values.get("vm_id")}} | taint)
        elif r.get("type") == LISTING:
            state.append({k: r[k] for k in ("address", "mode", "type")} | {"values": {"containers": values.get("containers")}})
        elif taint:
            state.append({"address": r["address"]} | taint)
    config = [{k: r[k] for k in ("address", "mode", "type")} | {"expressions": {"vm_id": r["expressions"]["vm_id"]}}
              for r in plan.get("configuration", {}).get("root_module", {}).get("resources", [])
              if r.get("type") == CONTAINER and "vm_id" in r.get("expressions", {})]
    return {"prior_state": {"values": {"root_module": {"resources": state}}},
            "configuration": {"root_module": {"resources": config}}}


if __name__ == "__main__":
    main()

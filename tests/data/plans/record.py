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
  bpg-refresh-tainted    a create whose SSH session died between bpg's `sed -i` and `tee -a`
                         (pvesim faults.py cut_session): tainted, the idmap lines missing
  bpg-plan-tainted       the same, as a normal plan (a replacement, replace_because_tainted)

Only the keys plan_report reads are kept (plus format/terraform version; of `prior_state` only
each resource's address and taint), so the fixtures stay small.
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
        "output_changes", "applyable", "complete", "errored")
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
            resources = plan.get("prior_state", {}).get("values", {}).get("root_module", {}).get("resources", [])
            if any(r.get("tainted") for r in resources):
                small["prior_state"] = {"values": {"root_module": {"resources": [
                    {"address": r["address"], "tainted": r.get("tainted", False)} for r in resources]}}}
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
        env.destroy(work)
        env.sim.faults.cut_session(f"/etc/pve/lxc/{VMID}.conf", "kill")
        env.terraform(work, "apply", "-auto-approve", "-input=false", "-no-color", ok=(1,))
        record("bpg-refresh-tainted", "-refresh-only")
        record("bpg-plan-tainted")


if __name__ == "__main__":
    main()

"""Re-record the container plan fixtures against the stand-in bpg/proxmox provider.

    .venv/bin/python tests/data/plans/record_standin.py

Synthesizes the example stack intel-jellyfin into a temporary directory,
applies it to a simulated node, edits the node's conf file the way a person
at the PVE shell would, and keeps `terraform show -json` of the plans:

  standin-refresh-drift      gid of dev0 and cores changed, one idmap line deleted
  standin-plan-drift         the same, as a normal plan (in-place update)
  standin-plan-replace       `unprivileged: 0` written by hand: ForceNew, a replacement
  standin-refresh-deleted    the conf file removed: the container is gone
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
KEEP = ("format_version", "terraform_version", "resource_drift", "resource_changes",
        "output_changes", "applyable", "complete", "errored")
STACK = "intel-jellyfin"
TEMPLATES = ("debian-12-standard_12.2-1_amd64.tar.zst", "ubuntu-24.04-standard_24.04-2_amd64.tar.zst")


def main() -> None:
    sys.path.insert(0, str(ROOT / "constructs"))
    from pve_gpu_lxc_testing.standin.install import make_mirror, write_cli_config

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        node = base / "node"
        for name in TEMPLATES:
            path = node / "var/lib/vz/template/cache" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
        env = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": str(write_cli_config(base / "tf.rc", make_mirror(base / "mirror"))),
            "PVE_STANDIN_ROOT": str(node),
            "PVE_GPU_LXC_STATE_DIR": str(base),
            "CDKTF_OUTDIR": str(base / "out"),
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        }
        env.pop("PVE_GPU_LXC_BACKEND", None)
        subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, check=True)
        work = base / "out" / "stacks" / STACK
        _pin_state(work, base)

        def tf(*args: str, ok: tuple[int, ...] = (0,)) -> str:
            proc = subprocess.run(["terraform", *args], cwd=work, env=env, capture_output=True, text=True)
            if proc.returncode not in ok:
                raise SystemExit(f"terraform {' '.join(args)} failed:\n{proc.stderr}")
            return proc.stdout

        def record(name: str, *plan_args: str) -> None:
            tf("plan", "-input=false", "-detailed-exitcode", "-out=p.tfplan", *plan_args, ok=(0, 2))
            plan = json.loads(tf("show", "-json", "p.tfplan"))
            small = {k: plan[k] for k in KEEP if k in plan}
            (HERE / f"{name}.json").write_text(json.dumps(small, indent=1, sort_keys=True) + "\n")
            print("wrote", name)

        conf = node / "etc/pve/lxc/210.conf"
        tf("init", "-input=false")
        tf("apply", "-auto-approve", "-input=false")
        original = conf.read_text()

        text = re.sub(r"^cores: \d+$", "cores: 2", original, flags=re.M)
        text = text.replace("gid=44,", "gid=45,", 1)
        text = re.sub(r"^lxc\.idmap: g 106 108 1\n", "", text, flags=re.M)
        conf.write_text(text)
        record("standin-refresh-drift", "-refresh-only")
        record("standin-plan-drift")

        conf.write_text(original.replace("unprivileged: 1", "unprivileged: 0"))
        record("standin-plan-replace")

        conf.unlink()
        record("standin-refresh-deleted", "-refresh-only")


def _pin_state(work: Path, base: Path) -> None:
    """Keep state in the temp dir even if the stack does not use configure_backend."""
    path = work / "cdk.tf.json"
    doc = json.loads(path.read_text())
    doc["terraform"]["backend"] = {"local": {"path": str(base / f"terraform.{STACK}.tfstate")}}
    path.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()

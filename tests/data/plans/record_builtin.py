"""Re-record the plan fixtures that need no provider (Terraform's built-in terraform_data).

    .venv/bin/python tests/data/plans/record_builtin.py

Writes builtin-*.json next to this file from real `terraform show -json`
output.  Only the keys plan_report reads are kept (plus format/terraform
version), so the fixtures stay small; the secret is a made-up test value.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
KEEP = ("format_version", "terraform_version", "resource_drift", "resource_changes",
        "output_changes", "applyable", "complete", "errored")

CONFIG = {
    "variable": {
        "secret": {"type": "string", "sensitive": True},
        "label": {"type": "string"},
        "gen": {"type": "number"},
    },
    "resource": {
        "terraform_data": {
            "settings": {"input": {
                "label": "${var.label}",
                "token": "${var.secret}",
                "devices": [{"path": "/dev/dri/renderD128", "gid": 104}],
            }},
            "pinned": {"input": "fixed", "triggers_replace": ["${var.gen}"]},
        }
    },
    "output": {"label": {"value": "${var.label}"}},
}


def tf(workdir: Path, *args: str, ok=(0,)) -> str:
    env = {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "CHECKPOINT_DISABLE": "1",
           "TF_IN_AUTOMATION": "1"}
    proc = subprocess.run(["terraform", *args], cwd=workdir, env=env, capture_output=True, text=True)
    if proc.returncode not in ok:
        raise SystemExit(f"terraform {args[0]} failed: {proc.stderr}")
    return proc.stdout


def record(workdir: Path, name: str, *plan_args: str) -> None:
    tf(workdir, "plan", "-input=false", "-detailed-exitcode", "-out=p.tfplan", *plan_args, ok=(0, 2))
    plan = json.loads(tf(workdir, "show", "-json", "p.tfplan"))
    small = {k: plan[k] for k in KEEP if k in plan}
    (HERE / f"{name}.json").write_text(json.dumps(small, indent=1, sort_keys=True) + "\n")
    print("wrote", name)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "main.tf.json").write_text(json.dumps(CONFIG))
        v1 = ["-var", "secret=test-secret-one", "-var", "label=a", "-var", "gen=1"]
        v2 = ["-var", "secret=test-secret-two", "-var", "label=b", "-var", "gen=2"]
        tf(work, "init", "-input=false")
        tf(work, "apply", "-auto-approve", "-input=false", *v1)
        record(work, "builtin-refresh-clean", "-refresh-only", *v1)
        record(work, "builtin-plan-clean", *v1)
        # label and the sensitive token change in place; gen forces a replacement
        record(work, "builtin-plan-update-replace", *v2)


if __name__ == "__main__":
    main()

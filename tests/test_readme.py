"""The README's ten-line example runs as printed and does what its comments say."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ten_line_example_synthesizes_what_it_promises(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## Ten lines\n\n```python\n(.*?)```", readme, re.S)
    assert code, "README lost its '## Ten lines' example"
    assert len(code.group(1).strip().splitlines()) <= 10
    script = tmp_path / "example.py"
    script.write_text(code.group(1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXMOX_VE_")}
    env.update(JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", CDKTF_OUTDIR=str(tmp_path / "out"))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "out" / "stacks" / "media" / "cdk.tf.json").read_text())
    devices = doc["resource"]["proxmox_virtual_environment_container"]["jellyfin"]["device_passthrough"]
    # the example's comment: card0 -> gid 44, renderD128 -> gid 993 (Ubuntu 24.04)
    assert [(d["path"], d["gid"]) for d in devices] == [("/dev/dri/card0", 44), ("/dev/dri/renderD128", 993)]

"""The README's ten-line example runs as printed and does what its comments say."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# the example of each engine: its README section, and the environment make test installs it in
EXAMPLES = {
    "cdktf": ("## Ten lines", ROOT / ".venv" / "bin" / "python"),
    "cdktn": ("## Ecosystem: engines, Terraform, OpenTofu", ROOT / ".venv-cdktn" / "bin" / "python"),
}


def example(engine: str) -> str:
    heading = EXAMPLES[engine][0]
    section = (ROOT / "README.md").read_text().partition(heading + "\n")[2].split("\n## ")[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, f"README lost the example under {heading!r}"
    return code.group(1)


def test_the_cdktn_example_differs_in_the_engine_import_only() -> None:
    cdktf, cdktn = example("cdktf").splitlines(), example("cdktn").splitlines()
    assert cdktf[0] == "from cdktf import App, TerraformStack" and cdktn[0] == "from cdktn import App, TerraformStack"
    assert cdktf[1:] == cdktn[1:]


@pytest.mark.parametrize("engine", ["cdktf", "cdktn"])
def test_ten_line_example_synthesizes_what_it_promises(tmp_path: Path, engine: str) -> None:
    code = example(engine)
    assert len(code.strip().splitlines()) <= 10
    python = EXAMPLES[engine][1]
    assert python.exists(), f"{python} is missing: make test creates it"
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROXMOX_VE_", "PVE_GPU_LXC_ENGINE"))}
    env.update(JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", CDKTF_OUTDIR=str(tmp_path / "out"))
    result = subprocess.run([str(python), str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "out" / "stacks" / "media" / "cdk.tf.json").read_text())
    devices = doc["resource"]["proxmox_virtual_environment_container"]["jellyfin"]["device_passthrough"]
    # the example's comment: card0 -> gid 44, renderD128 -> gid 993 (Ubuntu 24.04)
    assert [(d["path"], d["gid"]) for d in devices] == [("/dev/dri/card0", 44), ("/dev/dri/renderD128", 993)]


OCI_SECTION = "## Application containers from OCI images (PVE 9.1+)"


def oci_example() -> str:
    section = (ROOT / "README.md").read_text().partition(OCI_SECTION + "\n")[2].split("\n## ")[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, f"README lost the example under {OCI_SECTION!r}"
    return code.group(1)


def test_the_oci_example_is_ten_lines_and_synthesizes_the_pull_and_the_app(tmp_path: Path) -> None:
    code = oci_example()
    assert len(code.strip().splitlines()) <= 10
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROXMOX_VE_", "PVE_GPU_LXC_ENGINE"))}
    env.update(JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", CDKTF_OUTDIR=str(tmp_path / "out"))
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "out" / "stacks" / "apps" / "cdk.tf.json").read_text())
    (image,) = doc["resource"]["proxmox_oci_image"].values()
    assert (image["reference"], image["file_name"]) == ("docker.io/jellyfin/jellyfin:10.10.7", "jellyfin_10.10.7.tar")
    ct = doc["resource"]["proxmox_virtual_environment_container"]["jellyfin"]
    # the section's words: the pull, entrypoint and env, console mode, a host-managed NIC, a hookscript;
    # renderD128 at gid 0 (the app runs as root)
    assert ct["initialization"]["entrypoint"].startswith("/jellyfin/jellyfin --datadir /config")
    assert ct["environment_variables"]["PATH"].endswith(":/sbin:/bin") and ct["console"] == {"type": "console"}
    assert ct["network_interface"][0]["host_managed"] is True and "hook_script_file_id" in ct
    assert [(d["path"], d["gid"]) for d in ct["device_passthrough"]] == [("/dev/dri/renderD128", 0)]

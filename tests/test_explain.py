"""`pve-gpu-lxc explain` on the synthesized example stacks (no node): selection, devices and facts,
--svg, --json, and the README's and docs' copies of its output (docs match the code).

That the printed file is what a real apply leaves on a node: tests/e2e/test_explain_command.py.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc.engine import Testing as EngineTesting
from pve_gpu_lxc.model.idmap import IdMap
from pve_gpu_lxc.testing import synth
from stacks import STACKS

ROOT = Path(__file__).resolve().parent.parent
DOCS_SVG = ROOT / "docs" / "idmap-intel-jellyfin.svg"
README_BLOCK = re.compile(r"```text\n\$ (pve-gpu-lxc explain [^\n]*)\n(.*?)```", re.S)


@pytest.fixture(scope="module")
def outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cdktf.out with both example stacks, synthesized in-process (as `make synth` writes them)."""
    out = tmp_path_factory.mktemp("explain") / "cdktf.out"
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("PROXMOX_VE_") or k == "PVE_GPU_LXC_SSH_NODES"]:
            mp.delenv(key)
        app = EngineTesting.app()
        for name, cls in STACKS.items():
            (out / "stacks" / name).mkdir(parents=True)
            (out / "stacks" / name / "cdk.tf.json").write_text(json.dumps(synth(cls(app, name))))
    return out


def explain(outdir: Path, *args: str, capsys: pytest.CaptureFixture[str],
            project_dir: Path = ROOT) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = cli.main(["explain", "--no-synth", "--outdir", str(outdir), "--project-dir", str(project_dir), *args],
                        environ={})
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def conf_between_markers(text: str, vmid: int) -> str:
    path = f"/etc/pve/lxc/{vmid}.conf"
    match = re.search(rf"^-+ begin {re.escape(path)}\n(.*?)^-+ end {re.escape(path)}\n", text, re.S | re.M)
    assert match, text
    return match.group(1)


def test_the_readme_shows_what_explain_prints(outdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    match = README_BLOCK.search((ROOT / "README.md").read_text())
    assert match, "README lost its `pve-gpu-lxc explain` example"
    args = match.group(1).split()[2:]
    code, out, _ = explain(outdir, *args, capsys=capsys)
    assert code == 0
    assert out == match.group(2)


def test_the_docs_picture_is_what_the_command_draws(outdir: Path, capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    drawn = tmp_path / "idmap.svg"
    code, _, err = explain(outdir, "intel-jellyfin/jellyfin", "--svg", str(drawn), capsys=capsys)
    assert code == 0, err
    assert drawn.read_text() == DOCS_SVG.read_text(), (
        "docs/idmap-intel-jellyfin.svg is stale: run `.venv/bin/pve-gpu-lxc explain intel-jellyfin/jellyfin "
        "--svg docs/idmap-intel-jellyfin.svg`")
    bands = [b for b in ET.fromstring(drawn.read_text()).iter("{http://www.w3.org/2000/svg}polygon")]
    recipe = IdMap.passthrough(gids={44: 44, 106: 108})
    assert [(b.get("data-kind"), int(b.get("data-container-first", "")), int(b.get("data-host-first", "")))
            for b in bands] == [(e.kind, e.container_id, e.host_id) for e in recipe.entries]


def test_a_stack_or_one_container_is_selected(outdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = explain(outdir, "nvidia-ollama", capsys=capsys)
    assert code == 0 and out.startswith("nvidia-ollama/ollama: CT 220 on node pve\n")
    assert "intel-jellyfin" not in out
    code, out, err = explain(outdir, "intel-jellyfin/plex", capsys=capsys)
    assert (code, out) == (1, "")
    assert err == "pve-gpu-lxc explain: error: intel-jellyfin: no GPU container 'plex' (GPU containers: jellyfin)\n"
    code, _, err = explain(outdir, "nope", capsys=capsys)
    assert code == 1 and "unknown stack 'nope'" in err


def test_svg_draws_exactly_one_container(outdir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = explain(outdir, "--svg", str(tmp_path / "x.svg"), capsys=capsys)
    assert code == 1 and not (tmp_path / "x.svg").exists()
    assert err == ("pve-gpu-lxc explain: error: --svg draws one container's idmap: select one as STACK/CONTAINER "
                   "(selected: intel-jellyfin/jellyfin, nvidia-ollama/ollama)\n")
    # the NVIDIA container has no lxc.idmap: PVE's default map is drawn, both kinds shifted
    code, _, _ = explain(outdir, "nvidia-ollama/ollama", "--svg", str(tmp_path / "x.svg"), capsys=capsys)
    assert code == 0
    bands = [b.get("class") for b in ET.parse(tmp_path / "x.svg").iter("{http://www.w3.org/2000/svg}polygon")]
    assert bands == ["band shifted", "band shifted"]


def test_devices_show_recorded_numbers_or_say_they_are_not(outdir: Path, capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    facts = json.loads((ROOT / "stacks" / "facts" / "pve.json").read_text())
    numbers = {d["path"]: f"{d['major']}:{d['minor']}" for d in facts["devices"] if d.get("major") is not None}
    _, out, _ = explain(outdir, "intel-jellyfin", capsys=capsys)
    assert "  devices (stacks/facts/pve.json):\n" in out
    assert re.search(rf"dev1 +/dev/dri/renderD128 +{numbers['/dev/dri/renderD128']} +in the container: "
                     r"uid 0, gid 106, mode 0660\n", out)
    facts["devices"] = [d for d in facts["devices"] if d["path"] != "/dev/dri/renderD128"]
    edited = tmp_path / "pve.json"
    edited.write_text(json.dumps(facts))
    _, out, _ = explain(outdir, "intel-jellyfin", "--facts", f"pve={edited}", capsys=capsys)
    assert re.search(r"dev1 +/dev/dri/renderD128 +\(not recorded\) +in the container", out)
    assert re.search(rf"dev0 +/dev/dri/card0 +{numbers['/dev/dri/card0']} ", out)
    # a project without facts for the node
    _, out, _ = explain(outdir, "intel-jellyfin", capsys=capsys, project_dir=tmp_path)
    assert "  devices (no host facts for this node):\n" in out and out.count("(not recorded)") == 2


def test_json_report_holds_the_printed_file(outdir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    code, out, _ = explain(outdir, "--json", str(report), "--pve-version", "9.1", capsys=capsys)
    assert code == 0
    entries = {e["vmid"]: e for e in json.loads(report.read_text())["containers"]}
    assert set(entries) == {210, 220}
    for vmid, entry in entries.items():
        assert entry["conf"] == conf_between_markers(out, vmid)
        assert entry["pve_version"] == "9.1" and ",host-managed=0," in entry["conf"]
    assert entries[210]["subgid"] == ["root:44:1", "root:108:1"] and entries[210]["subuid"] == []
    assert [n["key"] for n in entries[210]["decided_by_pve"]] == ["net0", "rootfs"]


def test_bad_arguments_are_usage_errors(outdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = explain(outdir, "--pve-version", "nine", capsys=capsys)
    assert code == 1 and "'nine' is not a version like 9.1" in err
    code, _, err = explain(outdir, "--facts", "pve", capsys=capsys)
    assert code == 1 and err == "pve-gpu-lxc explain: error: --facts 'pve' is not NODE=FILE\n"

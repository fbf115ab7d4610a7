"""`pve-gpu-lxc facts` against the simulated node's real sshd (Debian's OpenSSH, sessions chrooted
into the node root): the installed collector runs there as `sh -s`, reads the node's storage.cfg and
a real .tar.zst template in `local`'s cache, and the file written is the node as recorded; the node
is byte-identical afterwards.  No Terraform here: only the node's SSH side is used."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pve_gpu_lxc import HostFacts, cli
from pve_gpu_lxc_testing.e2e.harness import FACTS, SimEnv
from pve_gpu_lxc_testing.pvesim import Simulator
from pve_gpu_lxc_testing.templates import build_template

pytestmark = pytest.mark.e2e

TEMPLATE = "debian-12-standard_12.7-1_amd64.tar.zst"  # the build `pveam` offers today; not in the table


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEnv]:
    work = tmp_path_factory.mktemp("facts-sim")
    sim = Simulator(work / "node", work / "state", node="pve", facts=FACTS).start()
    try:
        root = sim.files.root
        (root / "etc/hostname").write_text("pve\n")  # no /proc in the chroot: the collector reads this
        build_template(root / "var/lib/vz/template/cache" / TEMPLATE)
        yield SimEnv(sim, work, "", {})
    finally:
        sim.stop()


def env_of(node: SimEnv, **extra: str) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(node.sim.home_dir), **extra}  # HOME: the sim's known_hosts
    return env


def target(node: SimEnv) -> str:
    return f"root@{node.sim.ssh.address}:{node.sim.ssh.port}"


def test_facts_records_the_node_and_its_template(node: SimEnv, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    before, logins = node.node_fingerprint(), node.sim.ssh_logins()
    capsys.readouterr()
    code = cli.main(["facts", "--node", "pve", "--ssh", target(node), "--identity", str(node.sim.ssh.client_key_path),
                     "--project-dir", str(tmp_path)], environ=env_of(node))
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert node.node_fingerprint() == before and node.sim.ssh_logins() == logins + 1
    written = tmp_path / "stacks/facts/pve.json"
    doc = json.loads(written.read_text())
    assert doc["templates"] == [{
        "volid": f"local:vztmpl/{TEMPLATE}", "storage": "local", "file": TEMPLATE,
        "path": f"/var/lib/vz/template/cache/{TEMPLATE}", "video": 44, "render": 104,
        "video_member": "./etc/group", "render_member": "./etc/group", "error": None, "oci": None}]
    facts = HostFacts.load(written)
    committed = HostFacts.load(FACTS)
    # the simulated node's /dev is made from the committed facts: the same device nodes come back
    assert facts.hostname == "pve"
    assert {(d.path, d.major, d.minor) for d in facts.devices if d.type == "c"} == \
        {(d.path, d.major, d.minor) for d in committed.devices if d.type == "c"}
    assert f"  local:vztmpl/{TEMPLATE}: video 44, render 104" in out.splitlines()


def test_facts_with_the_key_from_the_environment(node: SimEnv, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    key = Path(node.sim.ssh.client_key_path).read_text()
    out = tmp_path / "pve.json"
    code = cli.main(["facts", "--node", "pve", "--ssh", target(node), "--out", str(out)],
                    environ=env_of(node, PROXMOX_VE_SSH_PRIVATE_KEY=key))
    assert code == 0, capsys.readouterr().err
    assert HostFacts.load(out).template(f"local:vztmpl/{TEMPLATE}") is not None


def test_facts_for_another_node_name_writes_nothing(node: SimEnv, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = cli.main(["facts", "--node", "pve2", "--ssh", target(node), "--identity",
                     str(node.sim.ssh.client_key_path), "--project-dir", str(tmp_path)], environ=env_of(node))
    err = capsys.readouterr().err
    assert code == 1 and f"{target(node)} is node 'pve', not 'pve2'" in err
    assert not (tmp_path / "stacks").exists()


def test_facts_with_an_unknown_host_key_is_refused(node: SimEnv, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh/known_hosts").write_text("")
    capsys.readouterr()
    code = cli.main(["facts", "--node", "pve", "--ssh", target(node), "--identity", str(node.sim.ssh.client_key_path),
                     "--out", str(tmp_path / "pve.json")], environ={"PATH": os.environ["PATH"], "HOME": str(home)})
    err = capsys.readouterr().err
    assert code == 1 and "the node's host key is not in" in err and "no key is ever added" in err
    assert (home / ".ssh/known_hosts").read_text() == "" and not (tmp_path / "pve.json").exists()

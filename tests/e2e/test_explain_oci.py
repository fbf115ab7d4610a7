"""`pve-gpu-lxc explain` for an application container from an OCI image, against a real apply.

`Template.oci` + `GpuContainer(entrypoint=, env=, idmap=)` synthesized by a CDKTF app; the image is
pulled first (a targeted apply of its `proxmox_oci_image`: the real bpg provider, the simulated node's
skopeo, the tests' loopback registry), then `pve-gpu-lxc facts` records the node over its real sshd
(the collector reads the pulled archive: its config, its user's passwd and group lines).  explain is
taken before the container exists, twice: with those facts (the whole file, after the first start)
and with the example node's committed facts, which lack the image (the file without the lines the
image decides, and those lines named).  Then the container is applied, and the node's file must be,
byte for byte, the first prediction (the drawn MAC aside: create.with_placeholders), and the second
plus exactly the lines it named.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc.pve import conf as pveconf
from pve_gpu_lxc.pve import create, oci, synthesized
from pve_gpu_lxc_testing.e2e.harness import FACTS, REPO_ROOT, SimEnv
from pve_gpu_lxc_testing.pvesim import nodes as pvenodes
from tests.e2e.conftest import oci_sim, synth_oci_app

pytestmark = pytest.mark.e2e

VMID = 430
ENTRYPOINT = "/app/entry.sh serve --name 'a b'"
ENV = {"PATH": "/bin", "APP_MODE": "explained"}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, oci_registry: Any) -> Iterator[SimEnv]:
    with oci_sim(tmp_path_factory.mktemp("oci-explain"), oci_registry) as env:
        (env.node_root / "etc/hostname").write_text("pve\n")  # no /proc in sshd's chroot: the collector reads it
        yield env


def synth(sim: SimEnv, base: Path, reference: str) -> Path:
    return synth_oci_app(sim, base, base / "state", reference=reference, vmid=VMID, entrypoint=ENTRYPOINT, env=ENV,
                         idmap="IdMap.passthrough(gids={44: 44})")


def record_facts(sim: SimEnv, out: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """`pve-gpu-lxc facts` over the simulated node's sshd."""
    ssh = sim.sim.ssh
    assert ssh is not None
    capsys.readouterr()
    code = cli.main(["facts", "--node", "pve", "--ssh", f"root@{ssh.address}:{ssh.port}", "--identity",
                     str(ssh.client_key_path), "--out", str(out), "--project-dir", str(out.parent)],
                    environ={"PATH": os.environ["PATH"], "HOME": str(sim.sim.home_dir)})
    assert code == 0, capsys.readouterr().err
    return out


def explain(sim: SimEnv, stack: Path, facts: Path, report: Path,
            capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    code = cli.main(["explain", "--no-synth", "--outdir", str(stack.parent.parent), "--project-dir", str(REPO_ROOT),
                     "--facts", f"pve={facts}", "--json", str(report), "--pve-version", pvenodes.VERSION["release"]],
                    environ={**os.environ, **sim.env})
    assert code == 0, capsys.readouterr().err
    (entry,) = json.loads(report.read_text())["containers"]
    assert entry["problem"] is None and entry["not_modelled"] == [], entry
    return dict(entry)


def predicted(entry: dict[str, Any]) -> create.PredictedConf:
    return create.PredictedConf(entry["vmid"], pveconf.parse(entry["conf"]),
                                tuple(create.Note(n["key"], n["note"]) for n in entry["decided_by_pve"]))


def test_explain_before_the_apply_is_the_nodes_file_after_it(node: SimEnv, oci_registry: Any, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    stack = synth(node, tmp_path / "app", oci_registry.app_ref)
    doc = synthesized.load(stack / "cdk.tf.json")
    (image,) = synthesized.resources(doc, synthesized.OCI_IMAGE_TYPE)
    node.init(stack)
    node.terraform(stack, "apply", "-auto-approve", "-input=false", "-no-color",
                   f"-target={synthesized.OCI_IMAGE_TYPE}.{image}")
    assert not node.conf_path(VMID).exists()  # the image only

    facts = record_facts(node, tmp_path / "facts" / "pve.json", capsys)
    full = explain(node, stack, facts, tmp_path / "full.json", capsys)
    assert full["not_predicted"] == [] and full["oci_image"]["recorded_in"] is not None
    partial = explain(node, stack, FACTS, tmp_path / "partial.json", capsys)
    assert partial["not_predicted"] == list(oci.INIT_KEYS)

    node.apply(stack)
    text = create.with_placeholders(node.conf_text(VMID), predicted(full))
    assert text == full["conf"]
    # the image's user, cwd and stop signal between the declared env and bpg's idmap lines
    assert ("lxc.environment.runtime: APP_MODE=explained\nlxc.environment.runtime: PATH=/bin\n"
            "lxc.init.uid: 1000\nlxc.init.gid: 1000\nlxc.init.groups: 993\nlxc.init.cwd: /app\n"
            "lxc.signal.halt: SIGINT\nlxc.idmap: u 0 100000 65536\n") in text
    assert "entrypoint: /app/entry.sh serve --name 'a b'\n" in text
    # without the image's config: the same file, less exactly the lines named as not predicted
    named = [line for line in text.splitlines() if line.split(":")[0] in partial["not_predicted"]]
    assert len(named) == len(oci.INIT_KEYS)
    assert [line for line in text.splitlines() if line not in named] == partial["conf"].splitlines()
    assert node.plan(stack) == 0
    node.destroy(stack)

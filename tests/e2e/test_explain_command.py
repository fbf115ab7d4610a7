"""`pve-gpu-lxc explain` against a real apply: the real bpg/proxmox provider creates the
containers on the simulated node, and the file the node then holds must be, byte for byte,
what `explain` printed before the apply, after the one documented normalisation: the MAC
address PVE draws for a NIC without `mac_address` (create.with_placeholders).

Stacks: the two examples, and a scratch stack of variants (static address with VLAN and
firewall, no NIC, several features, SSH keys, a two-line description with a colon, default
disk size, stopped, a uid passthrough, a hookscript) so more of bpg's request is covered.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc.pve import conf as pveconf
from pve_gpu_lxc.pve import create
from pve_gpu_lxc_testing.pvesim import nodes as pvenodes
from pve_gpu_lxc_testing.e2e.harness import FACTS, QUIET_ENV, REPO_ROOT, SimEnv, stack_dir, synth_app

pytestmark = pytest.mark.e2e

VARIANTS_APP = """\
import sys
sys.path.insert(0, {repo!r})
from pve_gpu_lxc.engine import App, TerraformStack
from pve_gpu_lxc import Disk, Features, GpuContainer, Hooks, IdMap, IntelGpu, Network, ProxmoxProvider, Template, configure_backend

app = App()
stack = TerraformStack(app, "variants")
configure_backend(stack, "variants")
ProxmoxProvider(stack, "proxmox")
template = Template.existing("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst")
GpuContainer(stack, "static", node_name="pve", vm_id=230, hostname="static-gpu", template=template,
             gpus=[IntelGpu(card=0, render=128)], cores=2, memory_mib=1024, swap_mib=0,
             disk=Disk(datastore_id="local-lvm", size_gib=4),
             network=Network(bridge="vmbr0", ipv4="10.1.2.3/24", gateway="10.1.2.1", vlan_id=20, firewall=True),
             features=Features(nesting=True, keyctl=True, mount=("nfs",)),
             ssh_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx0X1W4fEJ5x0hQm2yA0V8r0i7Q2m7m0V0b9f8cG1aF ci@example"],
             tags=["media", "gpu", "zeta"], description="Line one: with a colon\\nline two",
             started=False, start_on_boot=False, idmap=IdMap.passthrough(uids={{1000: 1000}}, gids={{44: 44}}))
GpuContainer(stack, "bare", node_name="pve", vm_id=231, hostname="bare-gpu", template=template,
             gpus=[IntelGpu(card=None, render=128)], network=None,
             hooks=Hooks(pre_start=[["/bin/echo", "starting"]]))
app.synth()
"""


@dataclass
class Explained:
    sim: SimEnv
    reports: dict[str, dict]  # "stack/container" -> explain's JSON entry, taken before the apply


def _synth_variants(sim: SimEnv, base: Path) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    (base / "main.py").write_text(VARIANTS_APP.format(repo=str(REPO_ROOT)))
    out = base / "cdktf.out"
    env = {**os.environ, **QUIET_ENV, **sim.env, "CDKTF_OUTDIR": str(out),
           "PVE_GPU_LXC_STATE_DIR": str(base / "state")}
    proc = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "python"), "main.py"], cwd=base, env=env,
                          text=True, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def explained(shared_sim: SimEnv, tmp_path_factory: pytest.TempPathFactory) -> Explained:
    """explain's JSON report for every container, taken BEFORE anything is applied; then the apply."""
    base = tmp_path_factory.mktemp("explain")
    out = synth_app(base / "examples", env=shared_sim.env, state_dir=base / "state")
    variants = _synth_variants(shared_sim, base / "variants")
    reports: dict[str, dict] = {}
    for outdir in (out, variants):
        report = base / f"report-{len(reports)}.json"
        code = cli.main(["explain", "--no-synth", "--outdir", str(outdir), "--project-dir", str(REPO_ROOT),
                         "--facts", f"pve={FACTS}", "--json", str(report),
                         # the simulated node's version (the facts record the real node's 8.4)
                         "--pve-version", pvenodes.VERSION["release"]], environ={**os.environ, **shared_sim.env})
        assert code == 0
        for entry in json.loads(report.read_text())["containers"]:
            reports[f"{entry['stack']}/{entry['container']}"] = entry
    for stack in ("intel-jellyfin", "nvidia-ollama"):
        shared_sim.apply(stack_dir(out, stack))
    shared_sim.apply(stack_dir(variants, "variants"))
    return Explained(shared_sim, reports)


@pytest.mark.parametrize("label", ["intel-jellyfin/jellyfin", "nvidia-ollama/ollama", "variants/static",
                                   "variants/bare"])
def test_explained_conf_is_what_the_node_holds_after_apply(explained: Explained, label: str) -> None:
    entry = explained.reports[label]
    assert entry["problem"] is None and entry["not_modelled"] == []
    node_text = explained.sim.conf_text(entry["vmid"])
    predicted = create.PredictedConf(entry["vmid"], pveconf.parse(entry["conf"]),
                                     tuple(create.Note(n["key"], n["note"]) for n in entry["decided_by_pve"]))
    assert create.with_placeholders(node_text, predicted) == entry["conf"]


def test_the_variants_reach_the_parts_of_the_request_they_exercise(explained: Explained) -> None:
    static, bare = explained.reports["variants/static"]["conf"], explained.reports["variants/bare"]["conf"]
    assert static.startswith("#Line one%3A with a colon\n#line two\n")
    assert "features: keyctl=1,mount=nfs,nesting=1\n" in static and "onboot: 0\n" in static
    assert ",firewall=1,gw=10.1.2.1," in static and ",tag=20,type=veth\n" in static
    assert "unprivileged: 1\nlxc.idmap: u 0 100000 1000\nlxc.idmap: u 1000 1000 1\n" in static
    assert "rootfs: local-lvm:vm-230-disk-0,size=4G\n" in static
    assert "net0" not in bare and "hookscript: local:snippets/pve-gpu-lxc-231.sh\n" in bare
    assert explained.reports["variants/static"]["subuid"] == ["root:1000:1"]


def test_devices_name_their_recorded_numbers(explained: Explained) -> None:
    devices = {d["path"]: d["major_minor"] for d in explained.reports["intel-jellyfin/jellyfin"]["devices"]}
    facts = json.loads(FACTS.read_text())
    recorded = {d["path"]: d for d in facts["devices"]}
    assert devices == {path: f"{recorded[path]['major']}:{recorded[path]['minor']}" for path in devices}

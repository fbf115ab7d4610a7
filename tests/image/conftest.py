"""Fixtures for the NVIDIA image tests: the two images built for real (cached), each uploaded by the real
bpg/proxmox provider to a simulated node whose facts carry the image's driver, and a container created
from it; the LXC harness fixtures for booting it."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from pve_gpu_lxc import Device, GpuContainer, HostFacts, NvidiaGpu, ProxmoxProvider, Template
from pve_gpu_lxc.engine import App, LocalBackend, TerraformStack
from pve_gpu_lxc_testing.e2e.harness import FACTS, SimEnv, sim_env
from pve_gpu_lxc_testing.image import cache as image_cache
from pve_gpu_lxc_testing.image.images import BuiltImage, BuiltImages, build_images
from tests.lxc import conftest as lxc_suite

# the LXC suite's fixtures, for the boots: the machine check, the harness whose clean-up is
# asserted, the fake NVIDIA hosts
harness = lxc_suite.harness
lxc_machine = lxc_suite.lxc_machine
fake_host = lxc_suite.fake_host

REPO = Path(__file__).resolve().parents[2]
# the example node runs 575.64.03 (the fake .run's driver); this one Debian's 535.261.03 (the packages' driver)
FACTS_535 = REPO / "tests" / "data" / "image" / "pve-nvidia-535.json"
NVIDIA_PCI = "0000:01:00.0"
VMIDS = {"fake-run": 310, "debian-packages": 320}
DRI_NODES = ("/dev/dri/card1", "/dev/dri/renderD129")  # the NVIDIA GPU's DRM nodes (facts: 0000:01:00.0)


def why_not_build() -> str | None:
    problems = []
    if os.geteuid() != 0:
        problems.append(f"building images needs root (euid is {os.geteuid()}): distrobuilder chroots")
    for tool, package in (("distrobuilder", "distrobuilder"), ("debootstrap", "debootstrap"), ("zstd", "zstd")):
        if shutil.which(tool) is None:
            problems.append(f"{tool} is missing: run `make system-deps` (scripts/install-distrobuilder.sh installs "
                            f"Debian's {package})")
    return "; ".join(problems) or None


@pytest.fixture(scope="session")
def image_machine() -> None:
    reason = why_not_build()
    if reason:
        pytest.fail(f"this machine cannot build the NVIDIA images: {reason}", pytrace=False)


@pytest.fixture(scope="session")
def built_images(image_machine: None) -> BuiltImages:
    """Both images: from .image-cache when their inputs are unchanged, else built now (cold: ~1.5 min)."""
    start = time.monotonic()
    built = build_images()
    seconds = time.monotonic() - start
    print(f"\nNVIDIA images: {seconds:.1f} s (base {'built' if built.base.built else 'cached'}, fake .run "
          f"{'built' if built.fake_run.template.built else 'cached'}, Debian packages "
          f"{'built' if built.debian_packages.template.built else 'cached'})")
    return built


@dataclass
class ImageNode:
    """A simulated node after a real-provider apply that uploaded `built` and created CT `vm_id` from it."""

    env: SimEnv
    built: BuiltImage
    facts: HostFacts
    vm_id: int
    stack_dir: Path
    template_volid: str  # the container's operating_system.template_file_id, from Terraform's state


def synth_image_stack(env: SimEnv, out: Path, built: BuiltImage, facts: HostFacts, vm_id: int) -> Path:
    """One container from the uploaded image: the NVIDIA GPU (hook: version guard + nvidia-modprobe) and its DRM
    nodes, whose gid comes from the image's own render/video GIDs (Template.upload(image=...))."""
    app = App(outdir=str(out))
    stack = TerraformStack(app, "image")
    LocalBackend(stack, path=str(env.work_dir / "image.tfstate"))
    ProxmoxProvider(stack, "proxmox", environ=env.env)
    GpuContainer(
        stack, "gpu", node_name="pve", vm_id=vm_id, hostname=f"nvidia-{vm_id}", started=False, host_facts=facts,
        template=Template.upload(built.template.path, image=built.image, checksum=built.template.sha256),
        gpus=[NvidiaGpu(pci=NVIDIA_PCI, driver_version=built.image.nvidia_driver)],
        devices=[Device(DRI_NODES[0], group="video"), Device(DRI_NODES[1], group="render")],
    )
    app.synth()
    return out / "stacks" / "image"


def template_file_id(env: SimEnv, stack_dir: Path) -> str:
    shown = json.loads(env.terraform(stack_dir, "show", "-json").stdout)
    (ct,) = [r for r in shown["values"]["root_module"]["resources"]
             if r["type"] == "proxmox_virtual_environment_container"]
    return str(ct["values"]["operating_system"][0]["template_file_id"])


def apply_image_node(tmp: Path, built: BuiltImage, facts_path: Path, vm_id: int) -> ImageNode:
    env = sim_env(tmp, facts=facts_path)
    try:
        facts = HostFacts.load(facts_path)
        stack_dir = synth_image_stack(env, tmp / "cdktf.out", built, facts, vm_id)
        env.apply(stack_dir)
        return ImageNode(env, built, facts, vm_id, stack_dir, template_file_id(env, stack_dir))
    except BaseException:
        env.close()
        raise


@pytest.fixture(scope="session")
def image_nodes(built_images: BuiltImages, lxc_machine: None,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ImageNode]]:
    """Each image on its own node: the fake .run (575.64.03) on the example node, Debian's packages
    (535.261.03) on a node whose facts record that driver."""
    nodes: dict[str, ImageNode] = {}
    try:
        nodes["fake-run"] = apply_image_node(tmp_path_factory.mktemp("node-fake-run"), built_images.fake_run, FACTS,
                                             VMIDS["fake-run"])
        nodes["debian-packages"] = apply_image_node(tmp_path_factory.mktemp("node-debian"),
                                                    built_images.debian_packages, FACTS_535,
                                                    VMIDS["debian-packages"])
        yield nodes
    finally:
        for node in nodes.values():
            node.env.close()


@pytest.fixture(scope="session")
def image_cache_dir() -> Path:
    return image_cache.cache_root()

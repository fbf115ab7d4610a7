"""The NVIDIA images, built for real, uploaded, created and booted.

For each of the two Debian 12 images of `NvidiaImage` (the fake `.run`, Debian's pinned packages):
`Template.upload` puts it on a simulated node through the real bpg/proxmox provider, which also
creates a container from it; the LXC harness then boots that container from what the node holds
(its conf file, the uploaded tarball on the node's storage, extracted as PVE does, as the
container's mapped root with the real `lxc-usernsexec`), after the container's own hookscript
(from the node's snippet storage) ran pre-start against a fake NVIDIA host with the facts' driver.
Inside: the `render`/`video` GIDs of /etc/group are the definition's, the DRM nodes show those
groups, libnvidia-ml.so.<pinned version> is there, nvidia-smi loads it; the hook refuses another
host driver.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from pve_gpu_lxc.core.files import sha256_file
from pve_gpu_lxc.image import NvidiaRunFile
from pve_gpu_lxc_testing.lxc import boot_template, hooks, plan
from pve_gpu_lxc_testing.lxc import template as tpl
from pve_gpu_lxc_testing.lxc.pvenode import spec_from_node
from pve_gpu_lxc_testing.lxc.render import host_rdev
from pve_gpu_lxc_testing.lxc.runner import BootResult, LxcHarness

from .conftest import DRI_NODES, ImageNode

pytestmark = [pytest.mark.image, pytest.mark.e2e, pytest.mark.lxc]

NVIDIA_NODES = ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")
NOBODY = 65534
OTHER_DRIVER = "580.65.06"


@pytest.fixture(params=["fake-run", "debian-packages"])
def node(request: pytest.FixtureRequest, image_nodes: dict[str, ImageNode]) -> ImageNode:
    return image_nodes[request.param]



def node_spec(node: ImageNode):  # type: ignore[no-untyped-def]
    """The container as the node holds it (devN, idmap, hookscript snippet), with the node's subid lines."""
    files = node.env.sim.files
    spec = spec_from_node(files.conf_dir(), node.vm_id, name=f"ct{node.vm_id}",
                          read_volume=lambda volid: node.env.volume_path(volid).read_bytes())
    return dataclasses.replace(spec, subuid_lines=tuple(files.path("/etc/subuid").read_text().split()),
                               subgid_lines=tuple(files.path("/etc/subgid").read_text().split()))


def checks(node: ImageNode) -> tpl.TemplateChecks:
    image = node.built.image
    return tpl.TemplateChecks(
        patterns=("/usr/lib/*/libnvidia-ml.so.*", "/usr/lib/*/nvidia/current/libnvidia-ml.so.*"),
        commands=(("smi", ("nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader")),
                  ("marker", ("cat", "/etc/pve-gpu-lxc/nvidia-driver-version"))),
        identities=(tpl.Identity("render-member", NOBODY, NOBODY, (image.render_gid,)),
                    tpl.Identity("video-member", NOBODY, NOBODY, (image.video_gid,)),
                    tpl.Identity("outsider", NOBODY, NOBODY)),
    )


def start_like_pve(node: ImageNode, harness: LxcHarness, host: hooks.FakeNvidiaHost) -> BootResult:
    """PVE's order: devN stats the host nodes (update_lxc_config), the hookscript's pre-start, the
    template rootfs boots."""
    spec = node_spec(node)
    p = plan(spec, rdev_of=lambda path: host_rdev(f"{host.sysroot}{path}"))
    script = hooks.install_script(spec.hook_script or "", host.root)
    pre = hooks.run_hook(script, node.vm_id, "pre-start", host.env())
    assert pre.returncode == 0, f"the hook refused to start CT {node.vm_id}: {pre.stderr}"
    archive = node.env.volume_path(node.template_volid)
    return boot_template(harness, spec.name, p, archive, tpl.check_script(p, checks(node)))


def test_the_node_holds_the_built_image_byte_for_byte(node: ImageNode) -> None:
    image = node.built.image
    assert node.template_volid == f"local:vztmpl/{image.template_file_name}"
    uploaded = node.env.volume_path(node.template_volid)
    assert sha256_file(uploaded) == node.built.template.sha256 == sha256_file(node.built.template.path)
    conf = node.env.conf_text(node.vm_id)
    assert "ostype: debian" in conf and "hookscript: local:snippets/" in conf
    # the devN gid of the DRM nodes is the image's own render/video GID (from the definition, via Template.upload)
    assert f"path={DRI_NODES[0]},uid=0,gid={image.video_gid}," in conf
    assert f"path={DRI_NODES[1]},uid=0,gid={image.render_gid}," in conf


def test_the_container_boots_with_the_definitions_gids_and_the_pinned_userspace(
        node: ImageNode, harness: LxcHarness, fake_host) -> None:  # type: ignore[no-untyped-def]
    image = node.built.image
    driver = node.facts.nvidia_driver_version
    assert driver == image.nvidia_driver  # the facts' host runs the image's driver
    host = fake_host(driver, nodes=(*DRI_NODES, *NVIDIA_NODES))  # made at boot (host-setup's unit)
    result = start_like_pve(node, harness, host)
    assert result.returncode == 0, result.explain()
    assert result.problems() == [], "\n".join(result.problems()) + "\n" + result.explain()
    report = tpl.parse_report(result.report)
    # /etc/group of the template, read inside: the definition's GIDs
    assert report.groups == {"video": image.video_gid, "render": image.render_gid}, result.report
    # the passed DRM nodes show those groups by name; the NVIDIA nodes are all there
    assert report.node_groups[DRI_NODES[0]] == "video" and report.node_groups[DRI_NODES[1]] == "render"
    assert sorted(n for n, seen in report.observed.nodes.items() if seen) == sorted((*NVIDIA_NODES, *DRI_NODES))
    # the userspace of exactly the pinned version
    assert f"libnvidia-ml.so.{image.nvidia_driver}" in {Path(f).name for f in report.files}, report.files
    assert report.runs["marker"] == (0, [image.nvidia_driver])
    # a member of render (as in the template's /etc/group) can use the render node, an outsider cannot
    assert report.opens[("render-member", DRI_NODES[1], "w")] is True
    assert report.opens[("video-member", DRI_NODES[0], "r")] is True
    assert report.opens[("outsider", DRI_NODES[1], "r")] is False
    assert report.opens[("outsider", "/dev/nvidia0", "w")] is True  # 0666, as the driver makes it
    # nvidia-smi of the image runs inside and loads the pinned libnvidia-ml
    code, output = report.runs["smi"]
    if isinstance(image.userspace, NvidiaRunFile):
        # the fake .run's stand-in nvidia-smi reports its version once /dev/nvidiactl is a char device
        assert (code, output) == (0, [image.nvidia_driver])
    else:
        # Debian's real nvidia-smi: libnvidia-ml.so.1 resolves (else "couldn't find libnvidia-ml.so") and NVML
        # initialises against the passed node, a stand-in with /dev/null's numbers, not a GPU
        assert code != 0 and output and output[0].startswith("Failed to initialize NVML"), output
    # extracted as the mapped root: root-owned files of the template belong to 100000 on the host
    etc_group = harness.lxcpath / f"ct{node.vm_id}" / "rootfs" / "etc" / "group"
    assert (etc_group.stat().st_uid, etc_group.stat().st_gid) == (100000, 100000)


def test_the_hooks_version_guard_refuses_another_host_driver(node: ImageNode, fake_host) -> None:  # type: ignore[no-untyped-def]
    spec = node_spec(node)
    host = fake_host(OTHER_DRIVER, nodes=(*NVIDIA_NODES, *DRI_NODES))
    script = hooks.install_script(spec.hook_script or "", host.root)
    run = hooks.run_hook(script, node.vm_id, "pre-start", host.env())
    assert run.returncode != 0
    assert OTHER_DRIVER in run.stderr and node.built.image.nvidia_driver in run.stderr, run.stderr
    ok = fake_host(node.facts.nvidia_driver_version, nodes=(*NVIDIA_NODES, *DRI_NODES))
    assert hooks.run_hook(script, node.vm_id, "pre-start", ok.env()).returncode == 0


def test_the_two_images_differ_where_their_definitions_do(image_nodes: dict[str, ImageNode]) -> None:
    fake, debian = image_nodes["fake-run"].built.image, image_nodes["debian-packages"].built.image
    assert (fake.nvidia_driver, debian.nvidia_driver) == ("575.64.03", "535.261.03")
    assert fake.render_gid != debian.render_gid  # each boot proves its own definition's GID, not a default
    assert os.path.basename(image_nodes["fake-run"].template_volid) != os.path.basename(
        image_nodes["debian-packages"].template_volid)

"""GpuContainer with host facts: PCI selection, synth-time checks, uploaded images pinned to a driver."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import pytest
from pve_gpu_lxc.engine import TerraformStack

from pve_gpu_lxc import Device, GpuContainer, IdMap, IntelGpu, AmdGpu, NvidiaGpu, Template, ValidationError
from pve_gpu_lxc.facts import DeviceNode, HostFacts, IdRange, NvidiaRuntimeFacts
from pve_gpu_lxc.facts.boot import BootFacts, BootFile
from pve_gpu_lxc.hostsetup import ENABLE_LINK, UNIT_PATH, NvidiaBootSetup
from pve_gpu_lxc.image import NvidiaImage

from .conftest import container_of

FACTS_FILE = Path(__file__).parents[1] / "stacks" / "facts" / "pve.json"
UBUNTU = Template.existing("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
DEBIAN12 = Template.existing("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst")
ROOTFS = "https://images.linuxcontainers.org/images/ubuntu/noble/amd64/default/20250715_07:42/rootfs.tar.xz"


@pytest.fixture(scope="module")
def pve() -> HostFacts:
    return HostFacts.load(FACTS_FILE)


def make(stack: TerraformStack, facts: HostFacts | None, **overrides) -> GpuContainer:
    props = dict(node_name="pve", vm_id=200, hostname="ct", template=UBUNTU) | overrides
    return GpuContainer(stack, "ct", host_facts=facts, **props)


def paths(doc: dict) -> list[str]:
    return [d["path"] for d in container_of(doc, "ct")["device_passthrough"]]


def with_devices(facts: HostFacts, *changed: DeviceNode, drop: tuple[str, ...] = ()) -> HostFacts:
    by_path = {n.path: n for n in facts.devices if n.path not in drop}
    by_path.update({n.path: n for n in changed})
    return dataclasses.replace(facts, devices=tuple(by_path.values()))


def with_boot(facts: HostFacts, setup: NvidiaBootSetup | None, *extra: BootFile) -> HostFacts:
    """The facts of a node whose boot configuration is `setup` as host-setup installs it (None: nothing)."""
    files = tuple(BootFile(f.path, f.text) for f in setup.files()) if setup else ()
    enabled = ((ENABLE_LINK, UNIT_PATH),) if setup else ()
    return dataclasses.replace(facts, boot=BootFacts(files + extra, enabled))


# --------------------------------------------------------------------------- selection by PCI address


def test_intel_selected_by_pci_gets_canonical_nodes(stack, synth, pve) -> None:
    make(stack, pve, gpus=[IntelGpu(pci="0000:00:02.0")])
    assert paths(synth(stack)) == ["/dev/dri/card0", "/dev/dri/renderD128"]


def test_renumbered_nodes_follow_the_facts_not_the_defaults(stack, synth, pve) -> None:
    """After a kernel update the iGPU became card1/renderD129: the address still finds it."""
    swapped = dataclasses.replace(pve, dri_by_path=(), drm=tuple(
        dataclasses.replace(m, name={"card0": "card1", "card1": "card0", "renderD128": "renderD129",
                                     "renderD129": "renderD128"}[m.name]) for m in pve.drm))
    make(stack, swapped, gpus=[IntelGpu(pci="00:02.0", card=None)])
    assert paths(synth(stack)) == ["/dev/dri/renderD129"]  # render only, canonical, never a by-path link


def test_nvidia_selected_by_pci_uses_the_device_minor(stack, synth, pve) -> None:
    make(stack, pve, gpus=[NvidiaGpu(pci="0000:01:00.0", driver_version="575.64.03")])
    assert paths(synth(stack)) == ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]


def test_nvidia_minor_other_than_zero(stack, synth, pve) -> None:
    assert pve.nvidia is not None
    second = dataclasses.replace(
        with_boot(with_devices(pve, DeviceNode("/dev/nvidia1", "c", 195, 1, 0o666, 0, "root", 0, "root"),
                               drop=("/dev/nvidia0",)), NvidiaBootSetup(gpu_minors=[1])),
        nvidia=dataclasses.replace(pve.nvidia, gpus=tuple(dataclasses.replace(g, device_minor=1) for g in pve.nvidia.gpus)),
    )
    make(stack, second, gpus=[NvidiaGpu(pci="0000:01:00.0", driver_version="575.64.03", uvm_tools=False)])
    assert paths(synth(stack)) == ["/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm"]


def test_selection_by_product_id(stack, synth, pve) -> None:
    make(stack, pve, gpus=[IntelGpu(product_id=0x3E92, card=None)])
    assert paths(synth(stack)) == ["/dev/dri/renderD128"]


def test_unknown_address_lists_what_the_facts_contain(stack, pve) -> None:
    with pytest.raises(ValidationError) as err:
        make(stack, pve, gpus=[IntelGpu(pci="0000:00:03.0")])
    message = str(err.value)
    assert message.startswith("GpuContainer 'test/ct': host facts for node 'pve'")
    assert "no Intel GPU matches pci 0000:00:03.0" in message
    assert "0000:00:02.0 Intel 8086:3e92 (i915): card0 renderD128" in message
    assert "0000:01:00.0 NVIDIA 10de:2b85 (nvidia) NVIDIA GeForce RTX 5090: card1 renderD129 nvidia0" in message


def test_ambiguous_selector_names_every_match(stack, pve) -> None:
    twin = dataclasses.replace(pve, drm=pve.drm + tuple(
        dataclasses.replace(m, bus_id="0000:03:00.0", name=m.name.replace("0", "2").replace("128", "130"))
        for m in pve.drm if m.vendor_id == 0x8086), dri_by_path=())
    with pytest.raises(ValidationError, match=r"2 Intel GPUs match product_id 0x3e92: 0000:00:02.0 .*; 0000:03:00.0 .*pci="):
        make(stack, twin, gpus=[IntelGpu(product_id=0x3E92)])


def test_pci_selection_without_facts_says_what_to_pass(stack) -> None:
    with pytest.raises(ValidationError, match=r"IntelGpu\(pci='0000:00:02.0'\) selects the GPU through host facts: pass host_facts="):
        make(stack, None, gpus=[IntelGpu(pci="0000:00:02.0")])


def test_plain_numbers_of_another_vendors_gpu_are_refused(stack, pve) -> None:
    with pytest.raises(ValidationError, match=r"IntelGpu\(card=1, render=129\): /dev/dri/card1, /dev/dri/renderD129 on node "
                       r"'pve' belongs to 0000:01:00.0 NVIDIA .*select it by pci='0000:00:02.0'"):
        make(stack, pve, gpus=[IntelGpu(card=1, render=129)])


def test_nvidia_index_the_node_does_not_have(stack, pve) -> None:
    with pytest.raises(ValidationError, match=r"NvidiaGpu\(index=1\): host facts .* has no /dev/nvidia1"):
        make(stack, pve, gpus=[NvidiaGpu(index=1, driver_version="575.64.03")])


def test_amd_selection_on_a_node_without_amd(stack, pve) -> None:
    with pytest.raises(ValidationError, match="no AMD GPU matches pci 0000:03:00.0"):
        make(stack, pve, gpus=[AmdGpu(pci="0000:03:00.0")])


@pytest.mark.parametrize("bad", ["0000:00:02", "card0"])
def test_bad_pci_values_fail_in_the_preset(bad) -> None:
    with pytest.raises(ValidationError, match="IntelGpu: pci .* is not a PCI address"):
        IntelGpu(pci=bad)


def test_pci_and_product_id_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="give pci= or product_id=, not both"):
        NvidiaGpu(driver_version="575.64.03", pci="0000:01:00.0", product_id=0x2B85)


# --------------------------------------------------------------------------- device checks


def test_missing_device_path_is_refused_with_the_recorded_nodes(stack, pve) -> None:
    with pytest.raises(ValidationError, match=r"/dev/dri/renderD130 does not exist on the node .*char devices "
                       r"recorded: /dev/dri/card0, /dev/dri/card1"):
        make(stack, pve, gpus=[IntelGpu(pci="0000:00:02.0")], devices=[Device("/dev/dri/renderD130", gid=993)])


def test_paths_the_collector_does_not_record_are_not_checked(stack, synth, pve) -> None:
    make(stack, pve, gpus=[IntelGpu(pci="0000:00:02.0", card=None)], devices=[Device("/dev/net/tun", mode="0666")])
    assert paths(synth(stack)) == ["/dev/dri/renderD128", "/dev/net/tun"]


def test_render_node_that_is_a_regular_file_is_refused(stack, pve) -> None:
    broken = with_devices(pve, DeviceNode("/dev/dri/renderD128", "f", mode=0, uid=0, owner="root", gid=0, group="root"))
    with pytest.raises(ValidationError, match=r"/dev/dri/renderD128 is a regular file, not a char device "
                       r"\(regular file, root:root 0000\)"):
        make(stack, broken, gpus=[IntelGpu(pci="0000:00:02.0")])


SETUP = "pve-gpu-lxc host-setup --node pve --ssh root@<host> --apply"
RTX = dict(pci="0000:01:00.0", driver_version="575.64.03")


def test_nvidia_nodes_the_boot_makes_again_are_accepted(stack, synth, pve) -> None:
    """The committed facts record host-setup's unit: every node of the GPU is made before pve-guests."""
    assert pve.nodes_at_boot() is not None and "/dev/nvidia-uvm" in pve.nodes_at_boot()
    make(stack, pve, gpus=[NvidiaGpu(**RTX)])
    assert "/dev/nvidia-uvm" in paths(synth(stack))


def test_an_absent_nvidia_node_is_refused_even_when_the_boot_would_make_it(stack, pve) -> None:
    """Nothing but the node can make it in time: no hook is trusted to (Proxmox checks devN first)."""
    after_boot = with_devices(pve, drop=("/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"))
    with pytest.raises(ValidationError) as err:
        make(stack, after_boot, gpus=[NvidiaGpu(**RTX)])
    message = str(err.value)
    assert "/dev/nvidia-uvm is absent: NVIDIA makes its device nodes on demand" in message
    assert "/dev/nvidia-uvm-tools is absent" in message
    assert f"Run `{SETUP}` once" in message


def test_nvidia_nodes_no_boot_step_makes_are_refused_with_the_host_setup_command(stack, pve) -> None:
    bare = with_boot(pve, None)
    with pytest.raises(ValidationError) as err:
        make(stack, bare, gpus=[NvidiaGpu(**RTX)])
    message = str(err.value)
    for node in ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"):
        assert f"{node} exists now, but nothing the node runs at boot before pve-guests.service makes it again" in message
    assert f"'Device /dev/nvidia-uvm does not exist'). Run `{SETUP}` once" in message
    assert "NvidiaGpu(ensure_nodes=False)" in message


def test_a_plain_device_of_an_nvidia_node_gets_the_same_check(stack, pve) -> None:
    with pytest.raises(ValidationError, match=r"/dev/nvidia-uvm exists now, but nothing the node runs at boot"):
        make(stack, with_boot(pve, None), devices=[Device("/dev/nvidia-uvm", mode="0666")])


def test_a_udev_rule_that_runs_nvidia_modprobe_counts(stack, synth, pve) -> None:
    """The widespread guide rule (modules-load entry + udev RUN on module load) makes them too."""
    modules = BootFile("/etc/modules-load.d/nvidia.conf", "nvidia\nnvidia-uvm\n")
    rule = BootFile("/etc/udev/rules.d/70-nvidia.rules",
                    'KERNEL=="nvidia", RUN+="/bin/bash -c \'/usr/bin/nvidia-smi -L && /bin/chmod 666 /dev/nvidia*\'"\n'
                    'KERNEL=="nvidia_uvm", RUN+="/bin/bash -c \'/usr/bin/nvidia-modprobe -c0 -u && /bin/chmod 0666 /dev/nvidia-uvm*\'"\n')
    make(stack, with_boot(pve, None, modules, rule), gpus=[NvidiaGpu(**RTX)])
    assert paths(synth(stack)) == ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]


def test_a_node_that_makes_its_nodes_its_own_way_opts_out(stack, synth, pve) -> None:
    make(stack, with_boot(pve, None), gpus=[NvidiaGpu(**RTX, ensure_nodes=False)])
    assert "/dev/nvidia-uvm" in paths(synth(stack))


def test_opting_out_still_needs_the_node_now(stack, pve) -> None:
    gone = with_boot(with_devices(pve, drop=("/dev/nvidia-uvm",)), None)
    with pytest.raises(ValidationError, match="/dev/nvidia-uvm is absent"):
        make(stack, gone, gpus=[NvidiaGpu(**RTX, ensure_nodes=False)])


def test_facts_recorded_before_the_boot_configuration_ask_for_a_new_record(stack, pve) -> None:
    with pytest.raises(ValidationError, match=r"recorded before the collector read the boot configuration.*"
                                              r"`pve-gpu-lxc facts --node pve --ssh root@<host>`"):
        make(stack, dataclasses.replace(pve, boot=None), gpus=[NvidiaGpu(**RTX)])


def test_facts_of_another_node(stack, pve) -> None:
    with pytest.raises(ValidationError, match=r"the host facts describe node 'pve', not 'pve2'"):
        make(stack, pve, node_name="pve2", gpus=[IntelGpu(card=None)])


# --------------------------------------------------------------------------- driver version


def test_driver_version_differs_from_the_host(stack, pve) -> None:
    with pytest.raises(ValidationError, match=r"NvidiaGpu driver_version 570.148.08 differs from the host's NVIDIA "
                       r"driver 575.64.03.*pin driver_version='575.64.03'"):
        make(stack, pve, gpus=[NvidiaGpu(driver_version="570.148.08")])


def test_nvidia_on_a_node_without_the_driver(stack, pve) -> None:
    with pytest.raises(ValidationError, match="pins NVIDIA driver 575.64.03, but no NVIDIA driver is recorded"):
        make(stack, dataclasses.replace(pve, nvidia=None), gpus=[NvidiaGpu(driver_version="575.64.03")])


# --------------------------------------------------------------------------- NvidiaGpu(runtime="host")

APP = dict(template=Template.oci("docker.io/jellyfin/jellyfin:10.10.7", os_type="debian", render_gid=0),
           entrypoint="/jellyfin/jellyfin", env={"PATH": "/usr/bin:/bin"},
           gpus=[NvidiaGpu(pci="0000:01:00.0", runtime="host")])
RUNTIME_READY = NvidiaRuntimeFacts(cli="/usr/bin/nvidia-container-cli", cli_version="cli-version: 1.17.8",
                                   lxc_hook=True, lxc_package="lxc-pve", lxc_version="6.0.5-3")


def with_runtime(facts: HostFacts, runtime: NvidiaRuntimeFacts | None) -> HostFacts:
    return dataclasses.replace(facts, nvidia_runtime=runtime)


def test_host_runtime_on_a_node_that_has_it(stack, synth, pve) -> None:
    make(stack, with_runtime(pve, RUNTIME_READY), **APP)
    assert "/dev/nvidia-uvm" in paths(synth(stack))


@pytest.mark.parametrize("lxc_package, lxc_version", [("lxc-pve", "6.0.5-3~bpo1"), ("lxc-pve", "6.1.0-1"),
                                                      ("lxc", "1:7.0.0-1")])
def test_host_runtime_takes_any_lxc_with_the_hooks_environment(stack, synth, pve, lxc_package, lxc_version) -> None:
    runtime = dataclasses.replace(RUNTIME_READY, lxc_package=lxc_package, lxc_version=lxc_version)
    make(stack, with_runtime(pve, runtime), **APP)
    assert synth(stack)


def test_host_runtime_on_the_example_node_names_everything_it_lacks(stack, pve) -> None:
    """The committed facts: lxc-pve 6.0.0-1 (PVE 8) with its hook, no nvidia-container-cli."""
    with pytest.raises(ValidationError) as err:
        make(stack, pve, **APP)
    message = str(err.value)
    assert "nvidia-container-cli is not installed on the node: install NVIDIA's libnvidia-container-tools" in message
    assert ("`lxc.environment.hooks`, which lxc-pve 6.0.0-1 does not know (LXC refuses the container's config): "
            "upgrade to lxc-pve >= 6.0.5-3 (PVE 9.1 or later)") in message
    assert "/usr/share/lxc/hooks/nvidia is not on the node" not in message


@pytest.mark.parametrize("change, expected", [
    ({"lxc_hook": False}, "/usr/share/lxc/hooks/nvidia is not on the node (it comes with lxc-pve): reinstall"),
    ({"lxc_package": "lxc", "lxc_version": "1:5.0.2-1+deb12u2"}, "which lxc 1:5.0.2-1+deb12u2 does not know"),
    ({"lxc_package": None, "lxc_version": None}, "the node has no lxc-pve (nor Debian's lxc), so nothing shows "
     "it knows `lxc.environment.hooks`: upgrade to PVE 9.1 or later (lxc-pve >= 6.0.5-3), then re-record"),
    ({"cli": "/usr/local/bin/nvidia-container-cli"}, "nvidia-container-cli is at /usr/local/bin/nvidia-container-cli, "
     "but the hookscript requires /usr/bin/nvidia-container-cli"),
    ({"lxc_version": None}, "which lxc-pve (version not recorded) does not know"),
    ({"lxc_version": "not a version"}, "which lxc-pve not a version does not know"),
])
def test_host_runtime_refusals_name_the_missing_piece(stack, pve, change, expected) -> None:
    with pytest.raises(ValidationError, match=re.escape(expected)):
        make(stack, with_runtime(pve, dataclasses.replace(RUNTIME_READY, **change)), **APP)


def test_host_runtime_with_facts_recorded_before_the_runtime_asks_for_a_new_record(stack, pve) -> None:
    with pytest.raises(ValidationError, match=r"recorded before the collector read NVIDIA's container runtime: "
                       r"re-record with `pve-gpu-lxc facts"):
        make(stack, with_runtime(pve, None), **APP)


def test_a_pinned_nvidia_container_does_not_need_the_runtime(stack, synth, pve) -> None:
    make(stack, with_runtime(pve, None), gpus=[NvidiaGpu(**RTX)])
    assert "/dev/nvidia0" in paths(synth(stack))


# --------------------------------------------------------------------------- subuid / subgid


def test_seed_idmap_fits_the_recorded_subgid(stack, synth, pve) -> None:
    make(stack, pve, template=DEBIAN12, gpus=[IntelGpu(pci="0000:00:02.0")], idmap=IdMap.passthrough(gids={44: 44, 106: 108}))
    assert len(container_of(synth(stack), "ct")["idmap"]) == 6


def test_idmap_hole_not_allowed_prints_the_lines_to_add(stack, pve) -> None:
    stock = dataclasses.replace(pve, subgid=(IdRange(100000, 65536),))
    with pytest.raises(ValidationError, match=r"root may not map host gids 44..44, 108..108 .*add to /etc/subgid on the "
                       r"node: root:44:1, root:108:1"):
        make(stack, stock, template=DEBIAN12, gpus=[IntelGpu(card=None)], idmap=IdMap.passthrough(gids={44: 44, 106: 108}))


def test_default_unprivileged_map_needs_the_stock_subuid(stack, pve) -> None:
    with pytest.raises(ValidationError, match=r"add to /etc/subuid on the node: root:100000:65536"):
        make(stack, dataclasses.replace(pve, subuid=()), gpus=[IntelGpu(card=None)])


def test_unrecorded_subids_are_not_checked(stack, synth, pve) -> None:
    make(stack, dataclasses.replace(pve, subuid=None, subgid=None), gpus=[IntelGpu(card=None)])
    assert paths(synth(stack)) == ["/dev/dri/renderD128"]


# --------------------------------------------------------------------------- Template.upload


def _image_tarball(path: Path, group: str) -> Path:
    with tarfile.open(path, "w:xz") as archive:
        data = group.encode()
        info = tarfile.TarInfo("./etc/group")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path


def test_upload_of_a_built_image(stack, synth, pve, tmp_path) -> None:
    image = NvidiaImage(nvidia_driver="575.64.03", source_url=ROOTFS)
    built = tmp_path / image.template_file_name
    built.write_bytes(b"not really a rootfs")
    make(stack, pve, template=Template.upload(built, image=image),
         gpus=[NvidiaGpu(pci="0000:01:00.0", driver_version="575.64.03")])
    doc = synth(stack)
    files = doc["resource"]["proxmox_virtual_environment_file"]
    [(key, upload)] = [(k, v) for k, v in files.items() if v["content_type"] == "vztmpl"]
    assert upload["node_name"] == "pve" and upload["datastore_id"] == "local"
    assert upload["source_file"] == {
        "path": str(built),
        "checksum": hashlib.sha256(b"not really a rootfs").hexdigest(),
        "file_name": "ubuntu-noble-nvidia-575.64.03_amd64.tar.xz",
    }
    container = container_of(doc, "ct")
    assert container["operating_system"]["template_file_id"] == f"${{proxmox_virtual_environment_file.{key}.id}}"
    assert container["operating_system"]["type"] == "ubuntu"


def test_upload_takes_render_gid_from_the_image(stack, synth) -> None:
    image = NvidiaImage(nvidia_driver="575.64.03", source_url=ROOTFS, render_gid=2001)
    make(stack, None, template=Template.upload("/nonexistent/x.tar.xz", image=image, checksum="ab" * 32),
         gpus=[IntelGpu(card=None)])
    assert container_of(synth(stack), "ct")["device_passthrough"][0]["gid"] == 2001


def test_upload_without_image_reads_gids_from_the_tarball(stack, synth, tmp_path) -> None:
    built = _image_tarball(tmp_path / "custom-24.04_amd64.tar.xz", "video:x:44:\nrender:x:1500:\n")
    make(stack, None, template=Template.upload(built), gpus=[IntelGpu()])
    assert [d["gid"] for d in container_of(synth(stack), "ct")["device_passthrough"]] == [44, 1500]


def test_image_driver_differs_from_the_pinned_driver(stack, tmp_path) -> None:
    image = NvidiaImage(nvidia_driver="575.64.03", source_url=ROOTFS)
    template = Template.upload(tmp_path / "x.tar.xz", image=image, checksum="0" * 64)
    with pytest.raises(ValidationError, match=r"NvidiaGpu driver_version 570.148.08 differs from the NVIDIA userspace "
                       r"575.64.03 built into template ubuntu-noble-nvidia-575.64.03_amd64.tar.xz"):
        make(stack, None, template=template, gpus=[NvidiaGpu(driver_version="570.148.08")])


def test_upload_needs_a_file_or_a_checksum(tmp_path) -> None:
    with pytest.raises(ValidationError, match=r"does not exist, so its sha256 cannot be computed"):
        Template.upload(tmp_path / "missing.tar.xz")
    with pytest.raises(ValidationError, match="not a sha256 hex digest"):
        Template.upload(tmp_path / "missing.tar.xz", checksum="abc")
    with pytest.raises(ValidationError, match="is not a container template name"):
        Template.upload(tmp_path / "image.img", checksum="0" * 64)
    with pytest.raises(ValidationError, match="image must be the NvidiaImage it was built from"):
        Template.upload(tmp_path / "x.tar.xz", checksum="0" * 64, image="575.64.03")
    with pytest.raises(ValidationError, match="nvidia_driver 570.148.08 differs from the image's 575.64.03"):
        Template.upload(tmp_path / "x.tar.xz", checksum="0" * 64, nvidia_driver="570.148.08",
                        image=NvidiaImage(nvidia_driver="575.64.03", source_url=ROOTFS))
    with pytest.raises(ValidationError, match="not a driver version"):
        Template.upload(tmp_path / "x.tar.xz", checksum="0" * 64, nvidia_driver="575")


def test_same_upload_twice_in_a_stack_is_one_resource(stack, synth, tmp_path) -> None:
    template = Template.upload(tmp_path / "x.tar.xz", checksum="1" * 64, render_gid=993, video_gid=44)
    GpuContainer(stack, "a", node_name="pve", vm_id=201, hostname="a", template=template, gpus=[IntelGpu()])
    GpuContainer(stack, "b", node_name="pve", vm_id=202, hostname="b", template=template, gpus=[IntelGpu()])
    files = synth(stack)["resource"]["proxmox_virtual_environment_file"]
    assert [v["content_type"] for v in files.values()] == ["vztmpl"]


# --------------------------------------------------------------------------- the example stacks


@pytest.mark.parametrize("name", ["intel-jellyfin", "nvidia-ollama"])
def test_example_stacks_fit_the_committed_facts(app, pve, name) -> None:
    from stacks import STACKS

    stack = STACKS[name](app, name)
    containers = [c for c in stack.node.children if isinstance(c, GpuContainer)]
    assert containers
    for container in containers:
        props = container.props
        idmap = props.idmap or IdMap.default()
        pve.verify_container(
            node_name=props.node_name,
            device_paths=[d.path for d in container.model.devices],
            nvidia_driver=next((g.driver_version for g in props.gpus if isinstance(g, NvidiaGpu)), None),
            idmap=[(e.kind, e.host_id, e.size) for e in idmap.entries],
        )
    assert json.loads(FACTS_FILE.read_text())["hostname"] == "pve"


def test_facts_travel_in_the_props_object(stack, synth, pve) -> None:
    from pve_gpu_lxc import GpuContainerProps

    props = GpuContainerProps(node_name="pve", vm_id=200, hostname="ct", template=UBUNTU, host_facts=pve,
                              gpus=[IntelGpu(pci="0000:00:02.0", card=None)])
    GpuContainer(stack, "ct", props)
    assert paths(synth(stack)) == ["/dev/dri/renderD128"]


def test_host_facts_must_be_host_facts(stack) -> None:
    with pytest.raises(ValidationError, match=r"^GpuContainer 'test/ct': host_facts must be a HostFacts \(HostFacts.load"):
        make(stack, "stacks/facts/pve.json")  # type: ignore[arg-type]

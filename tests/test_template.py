"""Template: existing volumes, downloads (checksum required), GIDs and OS type."""

from __future__ import annotations

import io
import tarfile

import pytest
from pve_gpu_lxc.engine import TerraformStack

from pve_gpu_lxc import GpuContainer, IntelGpu, Template, ValidationError

from .conftest import container_of

URL = "http://download.proxmox.com/images/system/debian-13-standard_13.1-2_amd64.tar.zst"
SHA = "a" * 128


def test_download_emits_one_download_file_per_node(stack, synth) -> None:
    template = Template.download(url=URL, checksum=SHA, checksum_algorithm="sha512")
    for i, node in enumerate(("pve", "pve", "pve2")):
        GpuContainer(stack, f"ct{i}", node_name=node, vm_id=300 + i, hostname=f"ct{i}", template=template, gpus=[IntelGpu()])
    doc = synth(stack)
    downloads = doc["resource"]["proxmox_download_file"]
    assert sorted(downloads) == ["template-pve-debian-13-standard_13_1-2_amd64", "template-pve2-debian-13-standard_13_1-2_amd64"]
    assert downloads["template-pve-debian-13-standard_13_1-2_amd64"] == {
        "checksum": SHA,
        "checksum_algorithm": "sha512",
        "content_type": "vztmpl",
        "datastore_id": "local",
        "file_name": "debian-13-standard_13.1-2_amd64.tar.zst",
        "node_name": "pve",
        "url": URL,
    }
    ref = container_of(doc, "ct0")["operating_system"]["template_file_id"]
    assert ref == "${proxmox_download_file.template-pve-debian-13-standard_13_1-2_amd64.id}"
    assert container_of(doc, "ct0")["device_passthrough"][1]["gid"] == 992  # GIDs from the file name
    assert "proxmox_virtual_environment_download_file" not in doc["resource"]  # deprecated in bpg 0.111


def test_download_moves_state_from_the_deprecated_type_name(stack, synth) -> None:
    # stacks synthesized before the rename keep their downloaded template (bpg's MoveResourceState)
    template = Template.download(url=URL, checksum=SHA, checksum_algorithm="sha512")
    GpuContainer(stack, "ct", node_name="pve", vm_id=300, hostname="ct", template=template, gpus=[IntelGpu()])
    GpuContainer(stack, "ct2", node_name="pve", vm_id=301, hostname="ct2", template=template, gpus=[IntelGpu()])
    name = "template-pve-debian-13-standard_13_1-2_amd64"
    assert synth(stack)["moved"] == [
        {"from": f"proxmox_virtual_environment_download_file.{name}", "to": f"proxmox_download_file.{name}"}
    ]


def test_same_file_with_another_checksum_in_one_stack_is_refused(stack) -> None:
    GpuContainer(stack, "a", node_name="pve", vm_id=300, hostname="a", template=Template.download(url=URL, checksum=SHA, checksum_algorithm="sha512"))
    with pytest.raises(ValidationError, match="is downloaded twice with different url/checksum in stack 'test'"):
        GpuContainer(stack, "b", node_name="pve", vm_id=301, hostname="b", template=Template.download(url=URL, checksum="b" * 128, checksum_algorithm="sha512"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(url=URL, checksum=""), "Template.download: checksum '' is not a sha256 hex digest (64 hex digits); a download without a checksum is not accepted"),
        (dict(url=URL, checksum="a" * 64, checksum_algorithm="crc32"), "Template.download: checksum_algorithm 'crc32' is not one of md5, sha1, sha224, sha256, sha384, sha512"),
        (dict(url="ftp://x/debian.tar.zst", checksum="a" * 64), "Template.download: url 'ftp://x/debian.tar.zst' must be http(s) and end in a template file name (.tar.zst, .tar.xz or .tar.gz)"),
    ],
)
def test_download_refusals(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        Template.download(**kwargs)
    assert str(err.value) == message


def test_download_without_checksum_is_refused() -> None:
    with pytest.raises(ValidationError) as err:
        Template.download(url=URL, checksum_algorithm="sha512")
    assert str(err.value) == (
        "Template.download: checksum is required for debian-13-standard_13.1-2_amd64.tar.zst; give the file's "
        "sha512 digest (e.g. from the distributor's SHA512SUMS), so Proxmox verifies what it downloads"
    )


def test_existing_rejects_non_template_volume() -> None:
    with pytest.raises(ValidationError, match=r"Template.existing: 'local:iso/debian.iso' is not a template volume id"):
        Template.existing("local:iso/debian.iso")


def test_gids_from_a_local_tarball(tmp_path, stack, synth) -> None:
    path = tmp_path / "custom.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = b"video:x:44:\nrender:x:2001:\n"
        info = tarfile.TarInfo("./etc/group")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    template = Template.existing("local:vztmpl/custom.tar.gz", template_file=path)
    GpuContainer(stack, "ct", node_name="pve", vm_id=300, hostname="ct", template=template, gpus=[IntelGpu(card=None)])
    assert container_of(synth(stack), "ct")["device_passthrough"][0]["gid"] == 2001


@pytest.mark.parametrize(
    ("volid", "os_type"),
    [
        ("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst", "ubuntu"),
        ("local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst", "debian"),
        ("local:vztmpl/rockylinux-9-default_20240912_amd64.tar.xz", "centos"),
        ("local:vztmpl/custom.tar.gz", "unmanaged"),
    ],
)
def test_os_type_from_the_file_name(volid: str, os_type: str) -> None:
    assert Template.existing(volid).operating_system_type == os_type


def test_upload_and_download_of_one_file_on_one_node_are_refused(tmp_path, stack) -> None:
    image = tmp_path / "debian-13-standard_13.1-2_amd64.tar.zst"
    image.write_bytes(b"not really a template")
    GpuContainer(stack, "a", node_name="pve", vm_id=300, hostname="a", template=Template.download(url=URL, checksum=SHA, checksum_algorithm="sha512"))
    with pytest.raises(ValidationError) as err:
        GpuContainer(stack, "b", node_name="pve", vm_id=301, hostname="b", template=Template.upload(image, render_gid=992, video_gid=44))
    assert str(err.value) == (
        "GpuContainer 'test/b': Template debian-13-standard_13.1-2_amd64.tar.zst on node pve is uploaded twice "
        "from different files or checksums in stack 'test'; use one Template value"
    )
    assert stack.node.try_find_child("b") is None  # refused before anything was added

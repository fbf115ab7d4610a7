"""Template: the container's OS image, and the source of its render/video GIDs.

A value object with static factories (`Template.existing`, `Template.download`,
`Template.upload`); GpuContainer binds it to a node, which for a download emits one
`proxmox_download_file` (for an upload one
`proxmox_virtual_environment_file`) per node and file, shared by every container of
the stack that uses it.  A download also gets a `moved` block from the deprecated type
name `proxmox_virtual_environment_download_file` that earlier versions emitted.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cdktf import TerraformStack
from constructs import Construct

from . import validation
from ..core.errors import ValidationError
from ..facts.model import validate_driver_version
from ..l1.generated import DownloadFile, FileSourceFile, VirtualEnvironmentFile
from .props import datastore_id as _datastore_id
from .template_gids import TemplateGids, known_gids, read_template_gids, template_key

if TYPE_CHECKING:
    from ..image.nvidia import NvidiaImage

# bpg 0.111.1 deprecates this name of `proxmox_download_file` ("will be removed in v1.0")
LEGACY_DOWNLOAD_TYPE = "proxmox_virtual_environment_download_file"
_FILE_NAME = re.compile(r"^[A-Za-z0-9_.+-]+\.tar(\.(zst|xz|gz))?$")
_VOLID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*:vztmpl/[A-Za-z0-9_.+-]+\.tar(\.(zst|xz|gz))?$")
_URL = re.compile(r"^https?://[^\s'\"]+/([A-Za-z0-9_.+-]+\.tar(\.(zst|xz|gz))?)$")
CHECKSUM_LENGTHS = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}
# bpg's OperatingSystemTypeValidator values, by template name prefix.
_OS_TYPES = {
    "alpine": "alpine", "archlinux": "archlinux", "centos": "centos", "rockylinux": "centos",
    "almalinux": "centos", "debian": "debian", "devuan": "devuan", "fedora": "fedora",
    "gentoo": "gentoo", "nixos": "nixos", "opensuse": "opensuse", "ubuntu": "ubuntu",
}


@dataclass(frozen=True, kw_only=True)
class Template:
    kind: Literal["existing", "download", "upload"]
    file_name: str
    volid: str | None = None
    url: str | None = None
    checksum: str | None = None
    checksum_algorithm: str | None = None
    datastore_id: str = "local"
    render_gid: int | None = None
    video_gid: int | None = None
    os_type: str | None = None
    template_file: str | None = None
    source_file: str | None = None  # upload: local path of the built image
    nvidia_driver: str | None = None  # NVIDIA userspace version built into the image

    @staticmethod
    def existing(
        volid: str,
        *,
        render_gid: int | None = None,
        video_gid: int | None = None,
        os_type: str | None = None,
        template_file: str | Path | None = None,
    ) -> "Template":
        """A template already on the node's storage, e.g. "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst".

        render_gid/video_gid: the groups' GIDs inside this template, for builds not in the table.
        template_file: a local copy of the same tarball to read them from (/etc/group).
        """
        if not isinstance(volid, str) or not _VOLID.match(volid):
            raise ValidationError(
                f"Template.existing: {volid!r} is not a template volume id; expected "
                "'<storage>:vztmpl/<file>.tar.zst|.tar.xz|.tar.gz' as listed by `pveam list local`"
            )
        return Template(
            kind="existing",
            file_name=volid.split("/", 1)[1],
            volid=volid,
            datastore_id=volid.split(":", 1)[0],
            **_common(render_gid, video_gid, os_type, template_file),
        )

    @staticmethod
    def download(
        *,
        url: str,
        checksum: str | None = None,
        checksum_algorithm: str = "sha256",
        datastore_id: str = "local",
        render_gid: int | None = None,
        video_gid: int | None = None,
        os_type: str | None = None,
        template_file: str | Path | None = None,
    ) -> "Template":
        """A template Proxmox downloads to `datastore_id` (checksum verified by PVE)."""
        match = _URL.match(url) if isinstance(url, str) else None
        if not match:
            raise ValidationError(
                f"Template.download: url {url!r} must be http(s) and end in a template file name "
                "(.tar.zst, .tar.xz or .tar.gz)"
            )
        if checksum_algorithm not in CHECKSUM_LENGTHS:
            raise ValidationError(
                f"Template.download: checksum_algorithm {checksum_algorithm!r} is not one of "
                f"{', '.join(CHECKSUM_LENGTHS)}"
            )
        length = CHECKSUM_LENGTHS[checksum_algorithm]
        if checksum is None:
            raise ValidationError(
                f"Template.download: checksum is required for {match.group(1)}; give the file's "
                f"{checksum_algorithm} digest (e.g. from the distributor's {checksum_algorithm.upper()}SUMS), "
                "so Proxmox verifies what it downloads"
            )
        if not isinstance(checksum, str) or not re.fullmatch(f"[0-9a-fA-F]{{{length}}}", checksum):
            raise ValidationError(
                f"Template.download: checksum {checksum!r} is not a {checksum_algorithm} hex digest "
                f"({length} hex digits); a download without a checksum is not accepted"
            )
        _datastore_id(datastore_id, "Template.download datastore_id")
        return Template(
            kind="download",
            file_name=match.group(1),
            url=url,
            checksum=checksum.lower(),
            checksum_algorithm=checksum_algorithm,
            datastore_id=datastore_id,
            **_common(render_gid, video_gid, os_type, template_file),
        )

    @staticmethod
    def upload(
        source_file: str | Path,
        *,
        checksum: str | None = None,
        file_name: str | None = None,
        datastore_id: str = "local",
        image: "NvidiaImage | None" = None,
        nvidia_driver: str | None = None,
        render_gid: int | None = None,
        video_gid: int | None = None,
        os_type: str | None = None,
    ) -> "Template":
        """A locally built image (e.g. `python -m pve_gpu_lxc.image build`) uploaded as a vztmpl.

        checksum: sha256 of source_file, verified by the provider; computed here when omitted
          (the file must then exist at synth time).
        image: the `NvidiaImage` it was built from: file name, render/video GIDs, OS type and
          the NVIDIA driver version come from it, and GpuContainer refuses an NvidiaGpu pinned
          to another version.  Without it, `nvidia_driver` records that version by hand.
        """
        from ..image.nvidia import NvidiaImage  # local: image generation is only needed for uploads

        if image is not None and not isinstance(image, NvidiaImage):
            raise ValidationError(f"Template.upload: image must be the NvidiaImage it was built from, got {image!r}")
        source = str(source_file)
        name = file_name or (image.template_file_name if image is not None else Path(source).name)
        if not _FILE_NAME.match(name):
            raise ValidationError(
                f"Template.upload: file name {name!r} is not a container template name; it must end in "
                ".tar.xz, .tar.zst or .tar.gz and use letters, digits and _ . + - (pass file_name=)"
            )
        if image is not None:
            if nvidia_driver is not None and nvidia_driver != image.nvidia_driver:
                raise ValidationError(
                    f"Template.upload: nvidia_driver {nvidia_driver} differs from the image's {image.nvidia_driver}"
                )
            nvidia_driver = image.nvidia_driver
            render_gid = image.render_gid if render_gid is None else render_gid
            video_gid = image.video_gid if video_gid is None else video_gid
            os_type = os_type or _OS_TYPES.get(image.distribution)
        if nvidia_driver is not None:
            validate_driver_version(nvidia_driver, "Template.upload nvidia_driver")
        _datastore_id(datastore_id, "Template.upload datastore_id")
        # an image built elsewhere: read render/video from its own /etc/group when it is here
        unknown_gids = image is None and render_gid is None and video_gid is None
        return Template(
            kind="upload",
            file_name=name,
            source_file=source,
            checksum=_upload_checksum(source, checksum),
            checksum_algorithm="sha256",
            datastore_id=datastore_id,
            nvidia_driver=nvidia_driver,
            **_common(render_gid, video_gid, os_type, source if unknown_gids and Path(source).is_file() else None),
        )

    def gids(self) -> TemplateGids | None:
        """Explicit values first, then the local tarball, then the table of known builds."""
        base = read_template_gids(self.template_file) if self.template_file else known_gids(self.file_name)
        if self.render_gid is None and self.video_gid is None:
            return base
        return TemplateGids(
            video=self.video_gid if self.video_gid is not None else (base.video if base else None),
            render=self.render_gid if self.render_gid is not None else (base.render if base else None),
            source="explicit",
        )

    @property
    def operating_system_type(self) -> str:
        if self.os_type:
            return self.os_type
        return _OS_TYPES.get(template_key(self.file_name).split("-", 1)[0], "unmanaged")

    def bind(self, scope: Construct, node_name: str) -> str:
        """The `template_file_id` for a container on `node_name` (creating the download or upload once per stack)."""
        if self.kind == "existing":
            assert self.volid is not None
            return self.volid
        stack = TerraformStack.of(scope)
        key = re.sub(r"[^A-Za-z0-9_-]", "_", f"template-{node_name}-{template_key(self.file_name)}")
        resource_class, config, how = self._resource(node_name)
        existing = stack.node.try_find_child(key)
        if existing is not None:  # one resource per node and file, shared by the stack's containers
            same = isinstance(existing, resource_class) and all(existing.config.get(k) == v for k, v in config.items())
            if not same:
                raise ValidationError(
                    f"Template {self.file_name} on node {node_name} is {how} in stack '{stack.node.id}'; "
                    "use one Template value"
                )
            return existing.id_ref
        resource = resource_class(stack, key, **config)
        if resource_class is DownloadFile:
            # stacks synthesized before the switch to the current type name keep their state:
            # bpg moves it (no re-download, no delete of the file); a no-op for new stacks.
            # Needs Terraform >= 1.8 or OpenTofu >= 1.10 (moves between resource types).
            resource.move_from_id(f"{LEGACY_DOWNLOAD_TYPE}.{key}")
        return resource.id_ref

    def _resource(self, node_name: str) -> tuple[type, dict, str]:
        """The L1 class and config that put this template on `node_name`, and how a clash reads."""
        config: dict = dict(node_name=node_name, datastore_id=self.datastore_id, content_type="vztmpl")
        if self.kind == "upload":
            assert self.source_file is not None
            config["source_file"] = FileSourceFile(path=self.source_file, checksum=self.checksum, file_name=self.file_name)
            return VirtualEnvironmentFile, config, "uploaded twice from different files or checksums"
        config.update(url=self.url, file_name=self.file_name, checksum=self.checksum, checksum_algorithm=self.checksum_algorithm)
        return DownloadFile, config, "downloaded twice with different url/checksum"


def _upload_checksum(source: str, checksum: str | None) -> str:
    if checksum is not None:
        if not isinstance(checksum, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", checksum):
            raise ValidationError(f"Template.upload: checksum {checksum!r} is not a sha256 hex digest (64 hex digits)")
        return checksum.lower()
    path = Path(source)
    if not path.is_file():
        raise ValidationError(
            f"Template.upload: {source} does not exist, so its sha256 cannot be computed; build the image first "
            "(python -m pve_gpu_lxc.image build ...) or pass checksum= from the build output"
        )
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _common(render_gid: int | None, video_gid: int | None, os_type: str | None, template_file: str | Path | None) -> dict:
    for name, value in (("render_gid", render_gid), ("video_gid", video_gid)):
        if value is not None:
            validation.container_id(value, name)
    if os_type is not None and os_type not in set(_OS_TYPES.values()) | {"unmanaged"}:
        raise ValidationError(
            f"Template os_type {os_type!r} is not one of {', '.join(sorted(set(_OS_TYPES.values()) | {'unmanaged'}))}"
        )
    if template_file is not None and not Path(template_file).is_file():
        raise ValidationError(f"Template template_file {str(template_file)!r} does not exist")
    return {
        "render_gid": render_gid,
        "video_gid": video_gid,
        "os_type": os_type,
        "template_file": str(template_file) if template_file is not None else None,
    }

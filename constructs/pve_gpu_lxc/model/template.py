"""Template: the container's OS image, and the source of its render/video GIDs (pure).

A value object with static factories (`Template.existing`, `Template.download`,
`Template.upload`, `Template.oci`).  A download, an upload or an OCI pull puts the file on each
node that uses it: `binding(node)` says which resource that is, keyed per node and file, so the
containers of a stack share it (`app.AppModel` refuses two different files under one key; the
cdk layer emits `proxmox_download_file`, `proxmox_virtual_environment_file` or
`proxmox_oci_image` for it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict

from ..core import names
from ..core.errors import ValidationError
from ..core.files import sha256_file
from ..core.rules import driver_version, got
from ..facts import HostFacts
from ..image import NvidiaImage
from . import oci, validation
from .template_gids import TemplateGids, known_gids, read_template_gids, template_key

TemplateKind = Literal["existing", "download", "upload", "oci"]
_KINDS: tuple[TemplateKind, ...] = ("existing", "download", "upload", "oci")
_FILE_NAME = re.compile(r"^[A-Za-z0-9_.+-]+\.tar(\.(zst|xz|gz))?$")
_VOLID = re.compile(rf"^{names.STORAGE_ID.pattern}:vztmpl/[A-Za-z0-9_.+-]+\.tar(\.(zst|xz|gz))?$")
_URL = re.compile(r"^https?://[^\s'\"]+/([A-Za-z0-9_.+-]+\.tar(\.(zst|xz|gz))?)$")
CHECKSUM_LENGTHS = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}
# bpg's OperatingSystemTypeValidator values, by template name prefix.
_OS_TYPES = {
    "alpine": "alpine", "archlinux": "archlinux", "centos": "centos", "rockylinux": "centos",
    "almalinux": "centos", "debian": "debian", "devuan": "devuan", "fedora": "fedora",
    "gentoo": "gentoo", "nixos": "nixos", "opensuse": "opensuse", "ubuntu": "ubuntu",
}


@dataclass(frozen=True)
class TemplateBinding:
    """The resource that puts a downloaded or uploaded template on one node.

    `key` is its construct id in the stack (one per node and file); `identity` is what must be
    equal for two containers to share it; `clash` says how two different ones differ.
    """

    key: str
    kind: Literal["download", "upload", "oci"]
    node_name: str
    template: Template
    identity: tuple[object, ...]
    clash: str


@dataclass(frozen=True, kw_only=True)
class Template:
    """The container's OS template: build one with `existing`, `download` or `upload`."""

    kind: TemplateKind
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
    reference: str | None = None  # oci: the image reference with its tag

    def __post_init__(self) -> None:
        """Field types, for values built without the factories (the factories check the contents)."""
        if not isinstance(self.kind, str) or self.kind not in _KINDS:
            raise ValidationError(f"Template kind {got(self.kind)} is not one of {', '.join(_KINDS)}; "
                                  "use Template.existing(...), Template.download(...), Template.upload(...) or "
                                  "Template.oci(...)")
        if not isinstance(self.file_name, str) or not self.file_name:
            raise ValidationError(f"Template file_name must be a file name string, got {got(self.file_name)}")
        validation.datastore_id(self.datastore_id, "Template datastore_id")
        for name in ("volid", "url", "checksum", "checksum_algorithm", "os_type", "template_file", "source_file",
                     "nvidia_driver", "reference"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValidationError(f"Template {name} must be a string or None, got {got(value)}")
        for name in ("render_gid", "video_gid"):
            if getattr(self, name) is not None:
                validation.container_id(getattr(self, name), f"Template {name}")

    @staticmethod
    def existing(
        volid: str,
        *,
        render_gid: int | None = None,
        video_gid: int | None = None,
        os_type: str | None = None,
        template_file: str | os.PathLike[str] | None = None,
    ) -> Template:
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
            **_common("Template.existing", render_gid, video_gid, os_type, template_file),
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
        template_file: str | os.PathLike[str] | None = None,
    ) -> Template:
        """A template Proxmox downloads to `datastore_id` (checksum verified by PVE)."""
        match = _URL.match(url) if isinstance(url, str) else None
        if not match:
            raise ValidationError(
                f"Template.download: url {url!r} must be http(s) and end in a template file name "
                "(.tar.zst, .tar.xz or .tar.gz)"
            )
        if not isinstance(checksum_algorithm, str) or checksum_algorithm not in CHECKSUM_LENGTHS:
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
        validation.datastore_id(datastore_id, "Template.download datastore_id")
        return Template(
            kind="download",
            file_name=match.group(1),
            url=url,
            checksum=checksum.lower(),
            checksum_algorithm=checksum_algorithm,
            datastore_id=datastore_id,
            **_common("Template.download", render_gid, video_gid, os_type, template_file),
        )

    @staticmethod
    def upload(
        source_file: str | os.PathLike[str],
        *,
        checksum: str | None = None,
        file_name: str | None = None,
        datastore_id: str = "local",
        image: NvidiaImage | None = None,
        nvidia_driver: str | None = None,
        render_gid: int | None = None,
        video_gid: int | None = None,
        os_type: str | None = None,
    ) -> Template:
        """A locally built image (e.g. `pve-gpu-lxc image build`) uploaded as a vztmpl.

        checksum: sha256 of source_file, verified by the provider; computed here when omitted
          (the file must then exist at synth time).
        image: the `NvidiaImage` it was built from: file name, render/video GIDs, OS type and
          the NVIDIA driver version come from it, and GpuContainer refuses an NvidiaGpu pinned
          to another version.  Without it, `nvidia_driver` records that version by hand.
        """
        if image is not None and not isinstance(image, NvidiaImage):
            raise ValidationError(f"Template.upload: image must be the NvidiaImage it was built from, got {image!r}")
        source = _path_text("Template.upload source_file", source_file)
        if file_name is not None and not isinstance(file_name, str):
            raise ValidationError(f"Template.upload: file_name must be a string, got {got(file_name)}")
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
            driver_version(nvidia_driver, "Template.upload nvidia_driver")
        validation.datastore_id(datastore_id, "Template.upload datastore_id")
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
            **_common("Template.upload", render_gid, video_gid, os_type,
                      source if unknown_gids and Path(source).is_file() else None),
        )

    @staticmethod
    def oci(
        reference: str,
        *,
        os_type: str,
        datastore_id: str = "local",
        file_name: str | None = None,
        render_gid: int | None = None,
        video_gid: int | None = None,
    ) -> Template:
        """An OCI image (Docker Hub, ghcr.io, a private registry) that Proxmox VE >= 9.1 pulls into
        `datastore_id` as a `.tar` template (`proxmox_oci_image`), for an application container.

        reference: `[registry[:port]/]path:tag`, e.g. "docker.io/jellyfin/jellyfin:10.10.7" (a tag,
          no digest: Proxmox's rule); a new tag is a new pull and a new container.
        os_type: what Proxmox detects in the image's files at create ("debian" for an image built
          on Debian, "ubuntu", "alpine", ..., "unmanaged" for one without a distribution such as
          busybox or distroless); bpg reads it back, so another value would replace the container.
        render_gid/video_gid: the GID the app's GPU nodes get (images rarely define the groups):
          the primary GID of the user the entrypoint runs as, 0 for root (model/oci.py says why).
        """
        where = "Template.oci"
        ref = oci.reference(reference, where)
        name = oci.file_name(file_name, ref, where)
        validation.datastore_id(datastore_id, f"{where} datastore_id")
        if os_type is None:
            raise ValidationError(
                f"{where}: os_type is required for {ref!r}: Proxmox VE detects it in the image's files at create "
                "(/etc/os-release, /etc/debian_version, ...) and bpg reads it back, so a wrong value would replace "
                "the container at every apply; give what the image is built on ('debian', 'ubuntu', 'alpine', ...) "
                "or 'unmanaged' for an image without a distribution (busybox, distroless)")
        return Template(
            kind="oci",
            file_name=name,
            reference=ref,
            datastore_id=datastore_id,
            **_common(where, render_gid, video_gid, os_type, None),
        )

    @property
    def node_volid(self) -> str:
        """The volume id on the node: the given one, or where a download/upload puts the file."""
        return self.volid or f"{self.datastore_id}:vztmpl/{self.file_name}"

    def gids(self, facts: HostFacts | None = None) -> TemplateGids | None:
        """Explicit values first, then the local tarball, then the template as recorded on the node
        (`facts`: the host facts of the container's node), then the table of known builds."""
        base = self._base_gids(facts)
        if self.render_gid is None and self.video_gid is None:
            return base
        return TemplateGids(
            video=self.video_gid if self.video_gid is not None else (base.video if base else None),
            render=self.render_gid if self.render_gid is not None else (base.render if base else None),
            source="explicit",
        )

    def _base_gids(self, facts: HostFacts | None) -> TemplateGids | None:
        if self.kind == "oci":  # no table and no facts know an app image's groups: the user says
            return None
        if self.template_file:
            return read_template_gids(self.template_file)
        if facts is not None:
            recorded = facts.template(self.node_volid)
            if recorded is not None and recorded.error is None:  # the node's own copy, read there
                return TemplateGids(recorded.video, recorded.render, f"{recorded.volid} as recorded in {facts.source}")
        return known_gids(self.file_name)

    @property
    def operating_system_type(self) -> str:
        if self.os_type:
            return self.os_type
        return _OS_TYPES.get(template_key(self.file_name).split("-", 1)[0], "unmanaged")

    def binding(self, node_name: str) -> TemplateBinding | None:
        """The resource that puts this template on `node_name`; None for an existing volume."""
        if self.kind == "existing":
            return None
        key = re.sub(r"[^A-Za-z0-9_-]", "_", f"template-{node_name}-{template_key(self.file_name)}")
        if self.kind == "oci":
            return TemplateBinding(key, "oci", node_name, self,
                                   ("oci", node_name, self.datastore_id, self.file_name, self.reference),
                                   "pulled twice from different references into one file")
        common = (node_name, self.datastore_id, self.file_name, self.checksum)
        if self.kind == "upload":
            return TemplateBinding(key, "upload", node_name, self, ("upload", *common, self.source_file),
                                   "uploaded twice from different files or checksums")
        return TemplateBinding(key, "download", node_name, self,
                               ("download", *common, self.url, self.checksum_algorithm),
                               "downloaded twice with different url/checksum")


def _path_text(what: str, value: object) -> str:
    """A local path given as str or os.PathLike, as text (no NUL: the OS could not open it)."""
    if not isinstance(value, (str, os.PathLike)):
        raise ValidationError(f"{what} must be a path (str or pathlib.Path), got {got(value)}")
    text = os.fspath(value)
    if not isinstance(text, str) or not text or "\0" in text:
        raise ValidationError(f"{what} {text!r} is not a usable file path")
    return text


def _upload_checksum(source: str, checksum: str | None) -> str:
    if checksum is not None:
        if not isinstance(checksum, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", checksum):
            raise ValidationError(f"Template.upload: checksum {checksum!r} is not a sha256 hex digest (64 hex digits)")
        return checksum.lower()
    path = Path(source)
    if not path.is_file():
        raise ValidationError(
            f"Template.upload: {source} does not exist, so its sha256 cannot be computed; build the image first "
            "(pve-gpu-lxc image build ...) or pass checksum= from the build output"
        )
    try:
        return sha256_file(path)
    except OSError as err:
        raise ValidationError(f"Template.upload: cannot read {source} to compute its sha256: {err}") from None


class _Common(TypedDict):
    render_gid: int | None
    video_gid: int | None
    os_type: str | None
    template_file: str | None


def _common(
    where: str, render_gid: object, video_gid: object, os_type: object, template_file: object
) -> _Common:
    for name, value in (("render_gid", render_gid), ("video_gid", video_gid)):
        if value is not None:
            validation.container_id(value, name)
    os_types = set(_OS_TYPES.values()) | {"unmanaged"}
    if os_type is not None and (not isinstance(os_type, str) or os_type not in os_types):
        raise ValidationError(f"Template os_type {os_type!r} is not one of {', '.join(sorted(os_types))}")
    file = None
    if template_file is not None:
        file = _path_text(f"{where} template_file", template_file)
        if not Path(file).is_file():
            raise ValidationError(f"Template template_file {file!r} does not exist")
    return {
        "render_gid": render_gid if isinstance(render_gid, int) else None,
        "video_gid": video_gid if isinstance(video_gid, int) else None,
        "os_type": os_type if isinstance(os_type, str) else None,
        "template_file": file,
    }

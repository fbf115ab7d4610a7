"""The collector and OCI images (issue 22): an OCI archive in a template cache (what PVE's
oci-registry-pull stores) is recorded with its image config and, for a User, the lines of its
/etc/passwd and /etc/group that resolve it; and what NvidiaGpu(runtime="host") needs on the node.
Real `sh` (dash and busybox) on real archives: the tests' image by umoci and skopeo
(pve_gpu_lxc_testing/ociimage.py), and hand-packed ones for the layer rules (compression, last
layer wins, whiteouts)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from pve_gpu_lxc.facts import HostFacts, NvidiaRuntimeFacts, OciImageFacts, collector_script
from pve_gpu_lxc.facts.io import to_json
from pve_gpu_lxc_testing import ociimage

CACHE = "var/lib/vz/template/cache"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"


def node_root(base: Path) -> Path:
    root = base / "root"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/hostname").write_text("pve\n")
    (root / CACHE).mkdir(parents=True)
    return root


def collect(root: Path, shell: str = "sh", env: dict[str, str] | None = None) -> dict[str, Any]:
    result = subprocess.run([shell, str(collector_script()), str(root)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


def oci_of(root: Path, name: str) -> dict[str, Any]:
    entry = next(t for t in collect(root)["templates"] if t["file"] == name)
    assert (entry["video"], entry["render"], entry["error"]) == (None, None, None)
    return entry["oci"]


# --- the tests' image, pulled as PVE pulls it --------------------------------------------------------------

def test_the_tests_image_is_recorded_with_its_config_and_the_lines_of_its_user(oci_layout, tmp_path):
    root = node_root(tmp_path)
    ociimage.oci_archive(oci_layout, ociimage.TAG, root / CACHE / "app_1.0.tar")
    found = oci_of(root, "app_1.0.tar")
    index = json.loads((oci_layout / "index.json").read_text())
    manifest = next(m["digest"] for m in index["manifests"]
                    if m["annotations"]["org.opencontainers.image.ref.name"] == ociimage.TAG)
    layer = json.loads((oci_layout / "blobs/sha256" / manifest.split(":")[1]).read_text())["layers"][0]["digest"]
    assert json.loads(found.pop("config")) == ociimage.image_config(oci_layout)
    assert found == {
        "manifest": manifest, "user": "app",
        # what resolve_oci_user reads for `app`: its passwd line, the groups listing it as a member
        "passwd": "app:x:1000:1000:app:/app:/bin/sh\n", "passwd_layer": layer,
        "group": "render:x:993:app\n", "group_layer": layer, "error": None}


def test_the_record_loads_and_round_trips(oci_layout, tmp_path):
    root = node_root(tmp_path)
    ociimage.oci_archive(oci_layout, ociimage.TAG, root / CACHE / "app_1.0.tar")
    doc = collect(root)
    facts = HostFacts.from_json(doc, source="collector")
    template = facts.template("local:vztmpl/app_1.0.tar")
    assert template is not None and isinstance(template.oci, OciImageFacts)
    assert template.oci.user == "app" and template.describe() == "local:vztmpl/app_1.0.tar: OCI image, User app"
    assert to_json(facts)["templates"] == doc["templates"]
    assert facts.nvidia_runtime == NvidiaRuntimeFacts()


def test_busybox_reads_the_image_alike(oci_layout, tmp_path):
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed (scripts/system-packages.txt lists it)")
    root = node_root(tmp_path)
    ociimage.oci_archive(oci_layout, ociimage.TAG, root / CACHE / "app_1.0.tar")
    applets = tmp_path / "busybox-bin"
    applets.mkdir()
    for applet in ("sh", "awk", "sed", "stat", "readlink", "cat", "date", "uname", "printf", "tar", "grep", "gzip"):
        (applets / applet).symlink_to(busybox)
    result = subprocess.run([str(applets / "sh"), str(collector_script()), str(root)], capture_output=True,
                            text=True, env={"PATH": str(applets)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["templates"] == collect(root)["templates"]


def test_an_image_without_user_records_no_lines(oci_layout, tmp_path):
    root = node_root(tmp_path)
    ociimage.tag_variant(oci_layout, "nouser", ociimage.ImageConfig(entrypoint=("/app/entry.sh",)))
    ociimage.oci_archive(oci_layout, "nouser", root / CACHE / "app_nouser.tar")
    found = oci_of(root, "app_nouser.tar")
    assert (found["user"], found["passwd"], found["group"], found["error"]) == (None, None, None, None)


def test_a_numeric_user_keeps_its_passwd_line_for_the_name(oci_layout, tmp_path):
    root = node_root(tmp_path)
    ociimage.tag_variant(oci_layout, "byuid", ociimage.ImageConfig(cmd=("/app/entry.sh",), user="1000"))
    ociimage.oci_archive(oci_layout, "byuid", root / CACHE / "app_byuid.tar")
    found = oci_of(root, "app_byuid.tar")
    assert (found["passwd"], found["group"]) == ("app:x:1000:1000:app:/app:/bin/sh\n", "render:x:993:app\n")


# --- hand-packed archives: the layer rules ---------------------------------------------------------------


def _tar(files: dict[str, bytes | None]) -> bytes:
    """A layer: name -> content (None: an empty whiteout file)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content or b"")
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(content or b""))
    return out.getvalue()


def hand_archive(path: Path, layers: list[tuple[dict[str, bytes | None], str]], config: dict[str, Any],
                 *, drop: tuple[str, ...] = (), manifest_type: str = MANIFEST) -> Path:
    """An OCI archive as skopeo writes one: oci-layout, index.json, blobs/sha256/*.  `layers`: (files,
    compression: "" | "gzip" | "zstd"); `drop`: blob roles left out ("config", "manifest")."""
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": f"sha256:{digest}", "size": len(data)}

    descriptors, diff_ids = [], []
    for files, compression in layers:
        raw = _tar(files)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        if compression == "gzip":
            data, media = gzip.compress(raw, mtime=0), LAYER + "+gzip"
        elif compression == "zstd":
            data = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
            media = LAYER + "+zstd"
        else:
            data, media = raw, LAYER
        descriptors.append({"mediaType": media, **blob(data)})
    config_blob = json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                              "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_descriptor = {"mediaType": CONFIG, **blob(config_blob)}
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "config": config_descriptor,
                           "layers": descriptors}).encode()
    manifest_descriptor = blob(manifest)
    if "config" in drop:
        del blobs[config_descriptor["digest"].split(":")[1]]
    if "manifest" in drop:
        del blobs[manifest_descriptor["digest"].split(":")[1]]
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + "0" * 64, "size": 1},
        {"mediaType": manifest_type, **manifest_descriptor, "annotations": {"org.opencontainers.image.ref.name": "1"}}]}
    members = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}', "index.json": json.dumps(index).encode(),
               **{f"blobs/sha256/{digest}": data for digest, data in blobs.items()}}
    path.write_bytes(_tar(dict(members)))
    return path


PASSWD_1 = b"root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/false\nbob:x:1001:1001::/home/bob:/bin/sh\n"
PASSWD_2 = b"root:x:0:0:root:/root:/bin/sh\nweb:x:8080:8080::/srv:/bin/false\n"
GROUP_1 = b"root:x:0:\nvideo:x:44:web\nwww:x:33:\nrender:x:105:web,bob\nbob:x:1001:\n"


@pytest.mark.parametrize("compression", ["", "gzip", "zstd"])
def test_each_layer_compression_is_read_and_the_last_layer_holding_a_file_wins(tmp_path, compression):
    root = node_root(tmp_path)
    hand_archive(root / CACHE / "web.tar", [
        ({"etc/passwd": PASSWD_1, "etc/group": GROUP_1}, compression),
        ({"./etc/passwd": PASSWD_2, "srv/index.html": b"hi\n"}, compression),  # dab's ./ names too
    ], {"User": "web", "Cmd": ["/bin/httpd"]})
    found = oci_of(root, "web.tar")
    assert found["passwd"] == "web:x:8080:8080::/srv:/bin/false\n"  # the second layer's
    assert found["group"] == "video:x:44:web\nrender:x:105:web,bob\n"  # the first layer's
    assert found["passwd_layer"] != found["group_layer"]


def test_a_later_whiteout_removes_the_file(tmp_path):
    root = node_root(tmp_path)
    hand_archive(root / CACHE / "gone.tar", [
        ({"etc/passwd": PASSWD_1, "etc/group": GROUP_1}, "gzip"),
        ({"etc/.wh.group": None}, "gzip"),
    ], {"User": "bob"})
    found = oci_of(root, "gone.tar")
    assert found["passwd"] == "bob:x:1001:1001::/home/bob:/bin/sh\n"
    assert (found["group"], found["group_layer"]) == (None, None)
    hand_archive(root / CACHE / "opaque.tar", [
        ({"etc/passwd": PASSWD_1, "etc/group": GROUP_1}, "gzip"),
        ({"etc/.wh..wh..opq": None, "etc/group": b"bob:x:7:\nstaff:x:50:bob\n"}, "gzip"),
    ], {"User": "bob"})
    found = oci_of(root, "opaque.tar")
    # the opaque directory empties etc/ below; the layer's own group stays, passwd is gone
    assert (found["passwd"], found["group"]) == (None, "staff:x:50:bob\n")


def test_the_lines_kept_are_the_ones_resolve_oci_user_reads(tmp_path):
    root = node_root(tmp_path)
    passwd = b"a:x:5:5\nbob:x:1001:7\nalias:x:1001:9\nc:x:6:6\n"
    group = b"g1:x:7:\nstaff:x:50:x,bob\nweb:x:8:bob\nother:x:9:carol\n"
    hand_archive(root / CACHE / "u.tar", [({"etc/passwd": passwd, "etc/group": group}, "")], {"User": "bob:staff"})
    found = oci_of(root, "u.tar")
    # bob's line, and every line of bob's uid (the gid comes from the first of them); the group staff by its
    # name, and no group listing bob (with a group given, resolve_oci_user reads no supplementary groups)
    assert found["passwd"] == "bob:x:1001:7\nalias:x:1001:9\n"
    assert found["group"] == "staff:x:50:x,bob\n"
    hand_archive(root / CACHE / "u.tar", [({"etc/passwd": passwd, "etc/group": group}, "")], {"User": "1001"})
    found = oci_of(root, "u.tar")
    # a uid: the lines of that uid (the first names the user), and the groups listing that name
    assert (found["passwd"], found["group"]) == ("bob:x:1001:7\nalias:x:1001:9\n", "staff:x:50:x,bob\nweb:x:8:bob\n")


@pytest.mark.parametrize(("drop", "manifest_type", "error"), [
    ((), "application/vnd.docker.distribution.manifest.v2+json",
     "index.json names no image manifest (application/vnd.oci.image.manifest.v1+json)"),
    (("manifest",), MANIFEST, "the image manifest {manifest} is missing"),
    (("config",), MANIFEST, "the image config {config} is missing"),
])
def test_an_archive_that_cannot_be_read_says_why(tmp_path, drop, manifest_type, error):
    root = node_root(tmp_path)
    archive = hand_archive(root / CACHE / "bad.tar", [({"etc/passwd": PASSWD_1}, "gzip")], {"User": "web"},
                           drop=drop, manifest_type=manifest_type)
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        manifest = index["manifests"][1]["digest"]
        names = tar.getnames()
        config = json.load(tar.extractfile(f"blobs/sha256/{manifest.split(':')[1]}"))["config"]["digest"] \
            if f"blobs/sha256/{manifest.split(':')[1]}" in names else None  # type: ignore[arg-type]
    found = collect(root)["templates"][0]["oci"]
    assert found["error"] == error.format(manifest=manifest, config=config)
    assert found["passwd"] is None and found["config"] is None


def test_a_plain_tar_template_is_no_oci_image(tmp_path):
    root = node_root(tmp_path)
    (root / CACHE / "plain.tar").write_bytes(_tar({"./etc/group": b"video:x:44:\n", "./index.json": b"{}"}))
    entry = collect(root)["templates"][0]
    assert (entry["oci"], entry["video"]) == (None, 44)


def test_the_collector_writes_nothing(oci_layout, tmp_path):
    root = node_root(tmp_path)
    ociimage.oci_archive(oci_layout, ociimage.TAG, root / CACHE / "app_1.0.tar")
    before = {str(p): (p.lstat().st_mtime_ns, p.lstat().st_size) for p in sorted(tmp_path.rglob("*"))}
    collect(root)
    assert {str(p): (p.lstat().st_mtime_ns, p.lstat().st_size) for p in sorted(tmp_path.rglob("*"))} == before


# --- NVIDIA's container runtime ---------------------------------------------------------------------------

CLI = """#!/bin/sh
[ "$1" = --version ] || exit 2
echo "cli-version: 1.17.8"
echo "lib-version: 1.17.8"
echo "build info:"
echo " build date: 2025-05-30T13:47+00:00"
"""
STATUS = """Package: lxc
Status: install ok installed
Version: 1:5.0.2-1+deb12u2

Package: lxc-pve
Status: deinstall ok config-files
Version: 6.0.0-1

"""


def test_the_nvidia_runtime_is_recorded(tmp_path):
    root = node_root(tmp_path)
    assert collect(root)["nvidia_runtime"] == {"cli": None, "cli_version": None, "lxc_hook": False,
                                               "lxc_package": None, "lxc_version": None}
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/nvidia-container-cli").write_text(CLI)
    (root / "usr/bin/nvidia-container-cli").chmod(0o755)
    (root / "usr/share/lxc/hooks").mkdir(parents=True)
    (root / "usr/share/lxc/hooks/nvidia").write_text("#!/bin/sh\n")
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(STATUS)
    # Debian's lxc where lxc-pve is not installed (its config files left do not count); the hook not executable
    assert collect(root)["nvidia_runtime"] == {
        "cli": "/usr/bin/nvidia-container-cli", "cli_version": "cli-version: 1.17.8\nlib-version: 1.17.8",
        "lxc_hook": False, "lxc_package": "lxc", "lxc_version": "1:5.0.2-1+deb12u2"}
    (root / "usr/share/lxc/hooks/nvidia").chmod(0o755)
    (root / "var/lib/dpkg/status").write_text(STATUS.replace("deinstall ok config-files", "install ok installed")
                                              .replace("6.0.0-1", "6.0.5-3").rstrip("\n"))  # no blank line at the end
    doc = collect(root)
    assert (doc["nvidia_runtime"]["lxc_hook"], doc["nvidia_runtime"]["lxc_package"],
            doc["nvidia_runtime"]["lxc_version"]) == (True, "lxc-pve", "6.0.5-3")
    facts = HostFacts.from_json(doc, source="collector")
    assert facts.nvidia_runtime == NvidiaRuntimeFacts(
        cli="/usr/bin/nvidia-container-cli", cli_version="cli-version: 1.17.8\nlib-version: 1.17.8", lxc_hook=True,
        lxc_package="lxc-pve", lxc_version="6.0.5-3")
    assert to_json(facts)["nvidia_runtime"] == doc["nvidia_runtime"]


def test_documents_recorded_before_still_load():
    doc = json.loads((Path(__file__).parents[1] / "stacks/facts/pve.json").read_text())
    del doc["nvidia_runtime"]
    for template in doc["templates"]:
        del template["oci"]
    facts = HostFacts.from_json(doc, source="older")
    assert facts.nvidia_runtime is None and all(t.oci is None for t in facts.templates or ())

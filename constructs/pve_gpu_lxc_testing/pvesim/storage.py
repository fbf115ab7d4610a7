"""Storages: the storage.cfg index, status, content (list, info, delete), upload and download-url.

PVE: pve-storage `src/PVE/API2/Storage/Config.pm` (index, read), `Status.pm` (index,
read_status, upload, download_url), `Content.pm` (index, info, delete), `PVE/Storage.pm`
(check_volume_access, abs_filesystem_path, vdisk_free, normalize_content_filename); pve-common
`PVE/Tools.pm` download_file_from_url.  storage.cfg and the volumes are node files (node.py),
read on every request.

`oci_registry_pull` (Status.pm oci_registry_pull) runs the real `skopeo copy docker://REF
oci-archive:...` inside the node (noderun.py), so the node's own /etc/containers (policy.json,
registries.conf, certs.d) decides what it may pull and whom it trusts.

The volume functions the container modules use (`check_volume_access`, `abs_filesystem_path`,
`volume_size`, `free_volume`) live here as in PVE::Storage.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import logging
import os
import re
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pve_gpu_lxc.pve import conf as pveconf

from .access import ROOT
from .faults import Faults
from .node import CONTENT_SUBDIRS, CONTENT_TYPES, NodeFiles, PveError, Storage, param_error, parse_volume_id
from .noderun import NodeRunner
from .router import Request, Router
from .tasks import Task, Tasks


class StorageApi:
    def __init__(self, files: NodeFiles, tasks: Tasks, log: logging.Logger, *, faults: Faults | None = None,
                 runner: NodeRunner | None = None):
        self.files = files
        self.node = files.name
        self.tasks = tasks
        self.log = log
        self.faults = faults  # a storage a test filled (faults.py fill_storage)
        self.runner = runner  # runs skopeo in the node (oci-registry-pull)

    def register(self, router: Router) -> None:
        router.add("GET", "/storage", self.config_index)
        router.add("GET", "/storage/{storage}", self.config_read)
        router.add("GET", "/nodes/{node}/storage", self.index)
        router.add("GET", "/nodes/{node}/storage/{storage}/status", self.read_status)
        router.add("GET", "/nodes/{node}/storage/{storage}/content", self.content_index)
        router.add("GET", "/nodes/{node}/storage/{storage}/content/{volume}", self.content_info,
                   patterns={"volume": ".+"})
        router.add("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}", self.content_delete,
                   patterns={"volume": ".+"})
        router.add("POST", "/nodes/{node}/storage/{storage}/upload", self.upload)
        router.add("POST", "/nodes/{node}/storage/{storage}/download-url", self.download_url)
        router.add("POST", "/nodes/{node}/storage/{storage}/oci-registry-pull", self.oci_registry_pull)

    # --- API2/Storage/Config.pm -------------------------------------------------------------------
    def _storage_digest(self) -> str:
        return hashlib.sha1(self.files.storage_cfg_text().encode()).hexdigest()

    def config_index(self, req: Request) -> object:
        digest = self._storage_digest()
        return [s.api_view(digest) for s in self.files.storages().values()]

    def config_read(self, req: Request, storage: str) -> object:
        return self.files.storage(storage).api_view(self._storage_digest())

    # --- API2/Storage/Status.pm: index, read_status -------------------------------------------------
    def _storage_status(self, storage: Storage) -> dict[str, Any]:
        if storage.path is not None:
            usage = shutil.disk_usage(self.files.root)
            total, used, avail = usage.total, usage.used, usage.free
        else:
            total, used, avail = 100 << 30, 0, 100 << 30
            if self.faults is not None and self.faults.storage_full(storage.id):
                used, avail = total, 0
        return {"storage": storage.id, "type": storage.type, "content": ",".join(sorted(storage.content)),
                "active": 1, "enabled": 0 if storage.disabled else 1, "shared": 0, "total": total, "used": used,
                "avail": avail, "used_fraction": used / total if total else 0}

    def index(self, req: Request) -> object:
        content = req.params.get("content")
        result = []
        for storage in self.files.storages().values():
            if content and content not in storage.content:
                continue
            if req.params.get("enabled") in ("1", "true") and storage.disabled:
                continue
            result.append(self._storage_status(storage))
        return result

    def read_status(self, req: Request, storage: str) -> object:
        found = self.files.storages().get(storage)
        if found is None:
            raise param_error({"storage": "No such storage."})
        return self._storage_status(found)

    # --- API2/Storage/Content.pm ---------------------------------------------------------------------
    def content_index(self, req: Request, storage: str) -> object:
        content = req.params.get("content") or None
        if content is not None and content not in CONTENT_TYPES:
            raise param_error({"content": f"invalid format - invalid content type '{content}'"})
        self.files.storage(storage)
        vmid = req.params.get("vmid")
        volumes = self.files.list_volumes(storage, content)
        if vmid:
            volumes = [v for v in volumes if str(v.get("vmid")) == vmid]
        return volumes

    def _real_volume_id(self, storage: str, volume: str) -> str:
        """Content.pm real_volume_id."""
        if ":" in volume:
            sid, _ = parse_volume_id(volume)
            if sid != storage:
                raise param_error({"volume": f"storage ID mismatch ({sid} != {storage})"})
            self.files.storage(storage)
            return volume
        self.files.storage(storage)
        return f"{storage}:{volume}"

    def content_info(self, req: Request, storage: str, volume: str) -> object:
        volid = self._real_volume_id(storage, volume)
        vol = self.files.volume(volid)
        path = self.files.path(vol.node_path)
        if not path.exists():
            raise PveError(f"volume '{volid}' does not exist")
        st = path.stat()
        return {"path": vol.node_path, "size": st.st_size, "used": st.st_blocks * 512, "format": vol.format}

    def content_delete(self, req: Request, storage: str, volume: str) -> object:
        volid = self._real_volume_id(storage, volume)
        vol = self.files.volume(volid)
        owner = vol.vmid
        task_id = (f"{owner}@" if owner is not None else "") + storage

        def worker(task: Task) -> None:
            path = self.files.path(vol.node_path)
            if not (path.is_file() or path.is_symlink()):
                task.warn(f"disk image '{vol.node_path}' does not exist")
                return
            path.unlink()
            task.log(f"Removed volume '{volid}'")

        return self.tasks.run("imgdel", task_id, req.user, worker)

    # --- API2/Storage/Status.pm: upload, download_url ---------------------------------------------
    def upload(self, req: Request, storage: str) -> object:
        """pve-storage API2/Storage/Status.pm upload (the HTTP server stored the file part first)."""
        try:
            return self._upload(req, storage)
        except BaseException:
            for _, tmp in req.files.values():
                tmp.unlink(missing_ok=True)
            raise

    def _upload(self, req: Request, storage: str) -> object:
        content = req.params.get("content", "")
        errors = {}
        if content not in ("iso", "vztmpl", "import"):
            errors["content"] = f"value '{content}' does not have a value in the enumeration 'iso, vztmpl, import'"
        if "filename" not in req.params:
            errors["filename"] = "property is missing and it is not optional"
        if errors:
            raise param_error(errors)
        scfg = self.files.storage_check_enabled(storage)
        if scfg.path is None:
            raise PveError(f"can't upload to storage type '{scfg.type}'")
        upload = req.files.get("filename")
        if upload is None:
            raise PveError("missing temporary file name")
        tmpfile = upload[1]
        size = tmpfile.stat().st_size
        filename = normalize_content_filename(req.params["filename"])
        subdir = {"iso": "template/iso", "vztmpl": "template/cache", "import": "import"}[content]
        check_file_extension(content, filename)
        if content not in scfg.content:
            raise PveError(f"storage '{storage}' does not support '{content}' content")
        dest_node = f"{scfg.path.rstrip('/')}/{subdir}/{filename}"
        dest = self.files.path(dest_node)
        checksum, algorithm = req.params.get("checksum"), req.params.get("checksum-algorithm")

        def worker(task: Task) -> None:
            task.log(f"starting file import from: /var/tmp/{tmpfile.name}")
            try:
                if algorithm:
                    got = _file_hash(algorithm, tmpfile)
                    if got.lower() != (checksum or "").lower():
                        task.log("calculating checksum...")
                        raise PveError(f"checksum mismatch: got '{got}' != expect '{checksum}'")
                    task.log("calculating checksum...OK, checksum verified")
                task.log(f"target node: {self.node}")
                task.log(f"target file: {dest_node}")
                task.log(f"file size is: {size}")
                task.log(f"command: cp -- /var/tmp/{tmpfile.name} {dest_node}")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(tmpfile, dest)
                dest.chmod(0o644)
                task.log("finished file import successfully")
            finally:
                tmpfile.unlink(missing_ok=True)

        return self.tasks.run("imgcopy", "", req.user, worker)

    def download_url(self, req: Request, storage: str) -> object:
        """pve-storage API2/Storage/Status.pm download_url + PVE::Tools::download_file_from_url."""
        params = req.params
        errors = {}
        for key in ("url", "content", "filename"):
            if not params.get(key):
                errors[key] = "property is missing and it is not optional"
        if params.get("url") and not re.fullmatch(r"https?://.*", params["url"]):
            errors["url"] = "value does not match the regex pattern"
        if params.get("content") and params["content"] not in ("iso", "vztmpl", "import"):
            errors["content"] = (f"value '{params['content']}' does not have a value in the enumeration "
                                 "'iso, vztmpl, import'")
        algorithms = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")
        if params.get("checksum-algorithm") and params["checksum-algorithm"] not in algorithms:
            errors["checksum-algorithm"] = (f"value '{params['checksum-algorithm']}' does not have a value in the "
                                            f"enumeration '{', '.join(algorithms)}'")
        if params.get("checksum") and not params.get("checksum-algorithm"):
            errors["checksum"] = "parameter 'checksum' requires parameter 'checksum-algorithm'"
        if params.get("checksum-algorithm") and not params.get("checksum"):
            errors["checksum-algorithm"] = "parameter 'checksum-algorithm' requires parameter 'checksum'"
        compression = params.get("compression") or None
        if compression and compression not in ("gz", "lzo", "zst", "bz2"):
            errors["compression"] = (f"value '{compression}' does not have a value in the enumeration "
                                     "'gz, lzo, zst, bz2'")
        if errors:
            raise param_error(errors)
        scfg = self.files.storage_check_enabled(storage)
        if scfg.path is None:
            raise PveError(f"can't upload to storage type '{scfg.type}', not a file based storage!")
        content, url = params["content"], params["url"]
        if content not in scfg.content:
            raise PveError(f"storage '{storage}' is not configured for content-type '{content}'")
        filename = normalize_content_filename(params["filename"])
        check_file_extension(content, filename)
        subdir = {"iso": "template/iso", "vztmpl": "template/cache", "import": "import"}[content]
        dest_node = f"{scfg.path.rstrip('/')}/{subdir}/{filename}"
        dest = self.files.path(dest_node)
        dest.parent.mkdir(parents=True, exist_ok=True)
        checksum, algorithm = params.get("checksum"), params.get("checksum-algorithm")
        verify = pveconf.parse_boolean(params.get("verify-certificates", "1")) != 0

        def worker(task: Task) -> None:
            decompress = None
            if compression:
                if content != "iso":
                    raise PveError(f"decompression not supported for {content}")
                decompress = compression
            task.log(f"downloading {url} to {dest_node}")
            if dest.is_file():
                if algorithm:
                    got = _file_hash(algorithm, dest)
                    if got.lower() == (checksum or "").lower():
                        task.log("calculating checksum of existing file...OK, got correct file already, "
                                 "no need to download")
                        return
                    task.log("calculating checksum of existing file...")
                    raise PveError(f"checksum mismatch: got '{got}' != expect '{checksum}', aborting")
                raise PveError(f"refusing to override existing file '{dest_node}'")
            tmp = dest.with_name(f"{dest.name}.tmp.{os.getpid()}")
            try:
                context = None if verify else ssl._create_unverified_context()
                try:
                    with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "Wget/1.21.3"}),
                                                timeout=60, context=context) as response, open(tmp, "wb") as out:
                        total = 0
                        while chunk := response.read(1 << 20):
                            out.write(chunk)
                            total += len(chunk)
                except urllib.error.HTTPError as err:
                    task.log(f"HTTP request sent, awaiting response... {err.code} {err.reason}")
                    task.log(f"{time.strftime('%Y-%m-%d %H:%M:%S')} ERROR {err.code}: {err.reason}.")
                    raise PveError("download failed: wget: Server returned error response (exit code 8)") from None
                except (urllib.error.URLError, OSError) as err:
                    task.log(f"failed: {getattr(err, 'reason', err)}.")
                    raise PveError("download failed: wget: unable to resolve host address or connect "
                                   "(exit code 4)") from None
                task.log(f"{total} bytes downloaded")
                if algorithm:
                    got = _file_hash(algorithm, tmp)
                    if got.lower() != (checksum or "").lower():
                        task.log("calculating checksum...")
                        raise PveError(f"checksum mismatch: got '{got}' != expect '{checksum}'")
                    task.log("calculating checksum...OK, checksum verified")
                if decompress:
                    task.log(f"decompressing {tmp.name} to {dest.name}")
                    _decompress(decompress, tmp, dest)
                    tmp.unlink()
                else:
                    tmp.replace(dest)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            task.log(f"download of '{url}' to '{dest_node}' finished")

        return self.tasks.run("download", pveconf.encode_text(filename), req.user, worker)

    def oci_registry_pull(self, req: Request, storage: str) -> object:
        """pve-storage API2/Storage/Status.pm oci_registry_pull: checks made before the task (skopeo
        installed, storage enabled and file based, vztmpl content, no file of that name), the file name
        `normalize_content_filename(filename // reference) . ".tar"`, then a task `ociregistrypull`
        running `skopeo copy docker://REF oci-archive:DIR/NAME.tmp.PID` (run_command) and renaming the
        temporary file.  The API description (pattern of `reference`, lengths of `filename`) is checked
        before this handler, as for every request."""
        # `-f '/usr/bin/skopeo'`: the node's /usr is this machine's (noderun.py)
        if not Path("/usr/bin/skopeo").is_file():
            raise PveError("Install 'skopeo' to pull OCI images from registries.")
        scfg = self.files.storage_check_enabled(storage)
        if scfg.path is None:
            raise PveError(f"can't upload to storage type '{scfg.type}', not a file based storage!")
        reference = req.params["reference"]
        if "vztmpl" not in scfg.content:
            raise PveError(f"storage '{storage}' is not configured for content-type 'vztmpl'")
        filename = normalize_content_filename(req.params.get("filename") or reference) + ".tar"
        tmp_filename = f"{filename}.tmp.{os.getpid()}"
        directory = f"{scfg.path.rstrip('/')}/{CONTENT_SUBDIRS['vztmpl']}"  # get_vztmpl_dir
        self.files.path(directory).mkdir(parents=True, exist_ok=True)  # activate_storage (mkdir)
        if self.files.path(f"{directory}/{filename}").is_file():
            raise PveError(f"refusing to override existing file '{filename}'")
        runner = self.runner

        def worker(task: Task) -> None:
            if runner is None:
                raise PveError("the simulated node runs no programs (started without a node runner)")
            runner.run_command(["skopeo", "copy", f"docker://{reference}", f"oci-archive:{directory}/{tmp_filename}"],
                               task.log, timeout=600)
            try:
                self.files.path(f"{directory}/{tmp_filename}").rename(self.files.path(f"{directory}/{filename}"))
            except OSError as err:
                raise PveError(f"unable to rename temporary file: {err.strerror}") from None

        return self.tasks.run("ociregistrypull", pveconf.encode_text(filename), req.user, worker)

    # --- PVE/Storage.pm: what the container modules use ------------------------------------------------
    def check_volume_access(self, user: str, volid: str, vtype: str | None) -> None:
        """PVE::Storage::check_volume_access (the simulated node grants the storage privileges)."""
        try:
            parse_volume_id(volid)
        except PveError:
            if user != ROOT:
                raise PveError("Only root can pass arbitrary filesystem paths.") from None
            return
        vol = self.files.volume(volid)
        if vtype and vol.vtype != vtype and (vtype != "rootdir" or vol.vtype != "images"):
            raise PveError(f"unable to use volume {volid} - content type needs to be '{vtype}'")

    def abs_filesystem_path(self, volid: str) -> Path:
        """PVE::Storage::abs_filesystem_path."""
        try:
            parse_volume_id(volid)
            path = self.files.path(self.files.volume(volid).node_path)
        except PveError:
            path = self.files.path(volid) if volid.startswith("/") else Path("/nonexistent")
        if not path.is_file():
            raise PveError(f"can't find file '{volid}'")
        return path

    def check_space(self, storage: Storage, vmid: int, volname: str, size_kb: int) -> None:
        """The refusal of PVE::Storage::vdisk_alloc on a full storage (faults.py fill_storage):
        LvmThinPlugin.pm alloc_image runs lvcreate with errmsg "lvcreate '$vg/$name' error" and
        pve-common Cmd.pm run dies "$errmsg: $laststderr" (lvcreate's line, indented by LVM);
        LVMPlugin.pm alloc_lvm_image dies "not enough free space ($free < $size)"."""
        if self.faults is None or not self.faults.storage_full(storage.id):
            return
        vg = storage.props.get("vgname", "pve")
        if storage.type == "lvmthin":
            pool = f"{vg}/{storage.props.get('thinpool', 'data')}"
            raise PveError(f"lvcreate '{vg}/{volname}' error:   Cannot create new thin volume, free space in "
                           f"thin pool {pool} reached threshold.")
        if storage.type == "lvm":
            raise PveError(f"not enough free space (0 < {size_kb})")

    def volume_size(self, volid: str) -> int | None:
        try:
            path = self.files.path(self.files.volume(volid).node_path)
            return path.stat().st_size if path.exists() else None
        except PveError:
            return None

    def free_volume(self, volid: str) -> None:
        """PVE::Storage::vdisk_free (a directory storage's emptied `images/<vmid>/` goes too)."""
        try:
            path = self.files.path(self.files.volume(volid).node_path)
        except PveError as err:
            self.log.warning("cannot free volume %s: %s", volid, err.message)
            return
        if path.is_file():
            path.unlink()
            if path.parent.name.isdigit() and not any(path.parent.iterdir()):
                path.parent.rmdir()


def normalize_content_filename(name: str) -> str:
    """PVE::Storage::normalize_content_filename."""
    name = name.rstrip("\n")
    name = re.sub(r"^.*[/\\]", "", name)
    return re.sub(r"[^a-zA-Z0-9_.-]", "_", name)


def check_file_extension(content: str, filename: str) -> None:
    """Status.pm upload and download_url: the extensions each content type takes."""
    if content == "iso" and not re.search(r"[^/]+\.(?:iso|img)$", filename, re.IGNORECASE):
        raise param_error({"filename": "wrong file extension"})
    if content == "vztmpl" and not re.search(r"[^/]+\.(tar|tar\.(?:gz|xz|zst|bz2))$", filename):
        raise param_error({"filename": "wrong file extension"})
    if content == "import" and not re.search(r"^[\w.\-+]+\.(ova|ovf|qcow2|raw|vmdk)$", filename):
        raise param_error({"filename": "invalid filename or wrong extension"})


def _file_hash(algorithm: str, path: Path) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest().lower()


def _decompress(algorithm: str, source: Path, dest: Path) -> None:
    if algorithm == "gz":
        with gzip.open(source, "rb") as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
    elif algorithm == "bz2":
        with bz2.open(source, "rb") as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
    else:
        tool = {"zst": ["zstd", "-q", "-d", "-c"], "lzo": ["lzop", "-d", "-c"]}[algorithm]
        if shutil.which(tool[0]) is None:
            raise PveError(f"no decompression method found ({tool[0]} is not installed on the simulated node)")
        with open(dest, "wb") as out:
            result = subprocess.run([*tool, str(source)], stdout=out, stderr=subprocess.PIPE, check=False)
        if result.returncode:
            raise PveError(f"decompression failed: {result.stderr.decode(errors='replace').strip()}")

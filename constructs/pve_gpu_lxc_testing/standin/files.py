"""`proxmox_virtual_environment_file` and `proxmox_virtual_environment_download_file`.

Files land in the node's `local` datastore directories (see `node.py`).  Drift, like
bpg: a deleted file is re-created; its content, size and mode on the node are never
compared for `_file`; `_download_file` only compares sizes.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import os
import re
import urllib.request
from copy import deepcopy
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tf.types import Unknown

from .node import Node, PveError
from .planning import Obj

FILE_TYPE = "proxmox_virtual_environment_file"
DOWNLOAD_TYPES = ("proxmox_virtual_environment_download_file", "proxmox_download_file")
SSH_CONTENT_TYPES = ("snippets", "backup")  # uploaded over SSH; file_mode applies only to these
FILE_CONTENT_TYPES = ("backup", "iso", "snippets", "vztmpl", "import")
DOWNLOAD_CONTENT_TYPES = ("iso", "vztmpl", "import")
_URL = re.compile(r"https?://.*")


def _known(value: Any) -> bool:
    return value is not None and value is not Unknown


def infer_content_type(file_name: str) -> str:
    """bpg's inference when `content_type` is omitted (F:670-733)."""
    lower = file_name.lower()
    if lower.endswith((".tar.gz", ".tar.xz")):
        return "vztmpl"
    if lower.endswith((".qcow2", ".raw", ".vmdk")):
        return "import"
    if lower.endswith((".img", ".iso")):
        return "iso"
    if lower.endswith((".yaml", ".yml")):
        return "snippets"
    raise PveError(f"cannot determine the content type of '{file_name}': set content_type "
                   f"(one of {', '.join(FILE_CONTENT_TYPES)})")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - test URLs only
        return response.read()


def content_length(url: str) -> int | None:
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            length = response.headers.get("Content-Length")
            return int(length) if length is not None else None
    except OSError:
        return None


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class File:
    type_name = FILE_TYPE

    def __init__(self, node: Node):
        self.node = node

    def validate(self, config: Obj) -> list[tuple[list, str]]:
        errors: list[tuple[list, str]] = []
        content_type = config.get("content_type")
        if _known(content_type) and content_type not in FILE_CONTENT_TYPES:
            errors.append((["content_type"], f"expected content_type to be one of {list(FILE_CONTENT_TYPES)}, "
                                             f"got {content_type}"))
        mode = config.get("file_mode")
        if _known(mode) and not (mode.isdigit() and 1 <= int(mode) < 2**32):
            errors.append((["file_mode"], f"file_mode {mode!r} is not an octal mode such as \"0700\""))
        return errors

    def _source(self, planned: Obj) -> tuple[str, bytes, Obj]:
        raw, src = planned.get("source_raw") or [], planned.get("source_file") or []
        if bool(raw) == bool(src):
            raise PveError("exactly one of source_file or source_raw must be specified")
        if raw:
            data = raw[0]["data"].encode()
            resize = raw[0].get("resize") or 0
            if resize:
                if len(data) > resize:
                    raise PveError(f"source_raw.data is {len(data)} bytes, longer than resize = {resize}")
                data = data.ljust(int(resize), b" ")
            return raw[0]["file_name"], data, {}
        path = src[0]["path"]
        data = fetch(path) if _URL.fullmatch(path) else Path(path).read_bytes()
        checksum = src[0].get("checksum") or ""
        if checksum and hashlib.sha256(data).hexdigest() != checksum.lower():
            raise PveError(f"the checksum of '{path}' is {hashlib.sha256(data).hexdigest()}, expected {checksum}")
        name = src[0].get("file_name") or os.path.basename(urlparse(path).path if _URL.fullmatch(path) else path)
        meta: Obj = {}
        if not _URL.fullmatch(path):
            meta = {"file_modification_date": _mtime(Path(path)), "file_size": Path(path).stat().st_size,
                    "file_tag": ""}
        return name, data, meta

    def create(self, planned: Obj) -> Obj:
        self.node.check_node(planned["node_name"])
        name, data, meta = self._source(planned)
        content_type = planned.get("content_type")
        if not _known(content_type):
            content_type = infer_content_type(name)
        target = self.node.content_dir(planned["datastore_id"], content_type) / name
        if target.exists() and planned.get("overwrite") is False:
            raise PveError(f"file '{target.name}' already exists in datastore '{planned['datastore_id']}' "
                           "and overwrite is false")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o644)  # tee / the upload API create files 0644
        mode = planned.get("file_mode")
        if _known(mode) and mode and content_type in SSH_CONTENT_TYPES:
            target.chmod(int(mode, 8))  # SFTP chmod; bpg ignores file_mode for API uploads
        state = deepcopy(planned)
        state.update({
            "id": f"{planned['datastore_id']}:{content_type}/{name}",
            "content_type": content_type,
            "file_name": name,
            "file_modification_date": meta.get("file_modification_date"),
            "file_size": meta.get("file_size"),
            "file_tag": meta.get("file_tag"),
        })
        for src in state.get("source_file") or []:
            src["changed"] = False
        return state

    def _path(self, state: Obj) -> Path:
        return self.node.volume_path(state["id"])

    def read(self, current: Obj) -> Obj | None:
        if not self._path(current).exists():
            return None  # volid missing from the storage listing: bpg clears the ID
        state = deepcopy(current)
        for src in state.get("source_file") or []:
            path = src["path"]
            if not _URL.fullmatch(path) and Path(path).exists():
                changed = (_mtime(Path(path)) != current.get("file_modification_date")
                           or Path(path).stat().st_size != current.get("file_size"))
                src["changed"] = bool(src.get("changed")) or changed
        return state

    def update(self, prior: Obj, planned: Obj) -> Obj:
        return deepcopy(planned)  # bpg's fileUpdate only touches state

    def delete(self, prior: Obj) -> None:
        self._path(prior).unlink(missing_ok=True)


class DownloadFile:
    type_name = DOWNLOAD_TYPES[0]

    def __init__(self, node: Node):
        self.node = node
        self.warnings: list[str] = []

    def validate(self, config: Obj) -> list[tuple[list, str]]:
        errors: list[tuple[list, str]] = []
        if _known(config.get("content_type")) and config["content_type"] not in DOWNLOAD_CONTENT_TYPES:
            errors.append((["content_type"], f"content_type must be one of {list(DOWNLOAD_CONTENT_TYPES)}, "
                                             f"got {config['content_type']!r}"))
        if _known(config.get("url")) and not _URL.fullmatch(config["url"]):
            errors.append((["url"], f"url must match https?://.*, got {config['url']!r}"))
        has_sum, has_algo = config.get("checksum") is not None, config.get("checksum_algorithm") is not None
        if has_sum != has_algo:
            errors.append((["checksum"], "checksum and checksum_algorithm must be set together"))
        return errors

    def plan_size(self, prior: Obj | None, planned: Obj) -> bool:
        """bpg's size plan modifier: replace when the URL's Content-Length differs from the state size."""
        if prior is None or not planned.get("overwrite") or not _known(planned.get("url")):
            return False
        length = content_length(planned["url"])
        return length is not None and prior.get("size") is not None and length != prior["size"]

    def create(self, planned: Obj) -> Obj:
        self.node.check_node(planned["node_name"])
        url = planned["url"]
        name = planned.get("file_name")
        if not _known(name):
            name = os.path.basename(urlparse(url).path)  # query-url-metadata's filename
        data = fetch(url)
        algorithm, expected = planned.get("checksum_algorithm"), planned.get("checksum")
        if algorithm and expected:
            got = hashlib.new(algorithm, data).hexdigest()
            if got.lower() != expected.lower():
                raise PveError(f"download task failed: checksum mismatch: got '{got}' != expect '{expected}'")
        data = self._decompress(data, planned.get("decompression_algorithm"))
        target = self.node.content_dir(planned["datastore_id"], planned["content_type"]) / name
        if target.exists():
            if not planned.get("overwrite_unmanaged"):
                raise PveError(f"refusing to override existing file '{name}' "
                               "(set overwrite_unmanaged = true to replace a file Terraform does not manage)")
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o644)
        state = deepcopy(planned)
        state.update({"id": f"{planned['datastore_id']}:{planned['content_type']}/{name}",
                      "file_name": name, "size": len(data)})
        return state

    @staticmethod
    def _decompress(data: bytes, algorithm: Any) -> bytes:
        if not algorithm:
            return data
        if algorithm == "gz":
            return gzip.decompress(data)
        if algorithm == "bz2":
            return bz2.decompress(data)
        raise PveError(f"decompression_algorithm {algorithm!r} is not implemented by the stand-in (use gz or bz2)")

    def _path(self, state: Obj) -> Path:
        return self.node.volume_path(state["id"])

    def read(self, current: Obj) -> Obj | None:
        path = self._path(current)
        if not path.exists():
            self.warnings.append("The file does not exist in datastore and resource must be recreated.")
            return None
        state = deepcopy(current)
        state["size"] = path.stat().st_size
        return state

    def update(self, prior: Obj, planned: Obj) -> Obj:
        state = deepcopy(planned)
        state["size"] = self._path(prior).stat().st_size if self._path(prior).exists() else prior.get("size")
        return state

    def delete(self, prior: Obj) -> None:
        self._path(prior).unlink(missing_ok=True)

"""Grant root the /etc/subuid and /etc/subgid entries a test needs, then restore them.

The files are restored byte for byte (or removed again if they did not exist),
also when the body of the `with` raises.  A lock file keeps two test processes
on one machine from restoring over each other.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

SUBUID = Path("/etc/subuid")
SUBGID = Path("/etc/subgid")
LOCK = Path("/run/lock/pve-gpu-lxc-testing-subids.lock")


def snapshot(paths: Sequence[Path] = (SUBUID, SUBGID)) -> dict[Path, bytes | None]:
    """The files' bytes (None when absent), to compare before and after a test."""
    return {path: _read(path) for path in paths}


def with_lines_added(original: bytes, wanted: Sequence[str]) -> bytes:
    """`original` plus each wanted line it lacks (pure; keeps the original bytes as a prefix)."""
    present = set(original.decode().splitlines())
    missing = [line for line in dict.fromkeys(wanted) if line not in present]
    if not missing:
        return original
    prefix = original if not original or original.endswith(b"\n") else original + b"\n"
    return prefix + "".join(f"{line}\n" for line in missing).encode()


@contextmanager
def granted(
    uid_lines: Sequence[str],
    gid_lines: Sequence[str],
    subuid: Path = SUBUID,
    subgid: Path = SUBGID,
    lock: Path | None = LOCK,
) -> Iterator[None]:
    with _locked(lock):
        saved = {path: _read(path) for path in (subuid, subgid)}
        try:
            for path, lines in ((subuid, uid_lines), (subgid, gid_lines)):
                _write(path, with_lines_added(saved[path] or b"", lines))
            yield
        finally:
            for path, content in saved.items():
                _restore(path, content)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(path: Path, content: bytes) -> None:
    # Rewrite in place so the file keeps its inode, owner and mode.
    with open(path, "wb") as f:
        f.write(content)


def _restore(path: Path, content: bytes | None) -> None:
    if content is None:
        path.unlink(missing_ok=True)
    else:
        _write(path, content)


@contextmanager
def _locked(lock: Path | None) -> Iterator[None]:
    if lock is None:
        yield
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

"""NVIDIA images built for real by the test suite, cached by what determines them (test infrastructure).

The suite builds the Debian 12 image of `NvidiaImage` twice (the fake `.run`, and Debian's
pinned non-free packages) with Debian's distrobuilder.  To keep `make test` lean, the Debian 12
base is bootstrapped once (debootstrap, minbase) and both builds repack it (`rootfs-http` from
a file:// URL, the definition's own source section), and each result is kept in an ignored
folder, keyed by a hash of everything that changes it:

    .image-cache/                          (PVE_GPU_LXC_IMAGE_CACHE overrides the place)
      base/<key>/rootfs.tar.zst            the base; key: suite, variant, mirror, debootstrap's version
      run/<sha256>/NVIDIA-Linux-...run     the fake installer, by its bytes
      images/<key>/<template file>         one image; key: the definition YAML, the sha256 of every local
                                           input it names (the .run, the base), distrobuilder's version and
                                           build arguments; beside it meta.tar.xz, SHA256SUMS, inputs.json
      tmp/<pid>-...                        work in progress
      failed/<key>.build.log               the log of the last failed build of that key
      locks/<key>.lock

Atomic: every entry is built under tmp/ and renamed into place only when complete, so a
failed or interrupted build leaves nothing a later run takes as finished (tmp/ entries of
dead processes are removed on the next run); a cached entry whose SHA256SUMS no longer
match is rebuilt.  A warm run hashes the inputs and the cached files, and builds nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pve_gpu_lxc.core.files import sha256_file
from pve_gpu_lxc.image import ImageBuildFailed, NvidiaImage, build
from pve_gpu_lxc.image.build import remove_staging

from ..tools import REPO_ROOT
from .fake_run import write_fake_run_file

CACHE_VARIABLE = "PVE_GPU_LXC_IMAGE_CACHE"
MIRROR_VARIABLE = "PVE_GPU_LXC_DEBIAN_MIRROR"
DEFAULT_CACHE = REPO_ROOT / ".image-cache"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# xz (the template name ends in .tar.xz) at its fastest level, all cores: packing is most of a build
BUILD_ARGS = ("--compression", "xz-0")


class ImageCacheError(AssertionError):
    """A step of making a cached image failed; the message names the step and the fix."""


def cache_root(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(CACHE_VARIABLE) or DEFAULT_CACHE)


def debian_mirror(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(MIRROR_VARIABLE) or DEBIAN_MIRROR


def key_of(parts: Sequence[tuple[str, str]]) -> str:
    """A cache key: sha256 over named parts (pure; the names keep two parts from running together)."""
    digest = hashlib.sha256()
    for name, value in parts:
        digest.update(f"{name}\0{len(value)}\0{value}\0".encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class CachedFile:
    path: Path
    sha256: str
    built: bool  # False: taken from the cache
    seconds: float  # building it (0 when cached)

    @property
    def url(self) -> str:
        return f"file://{self.path}"


# ------------------------------------------------------------------------------------ atomic entries


@contextmanager
def _locked(cache: Path, key: str) -> Iterator[None]:
    (cache / "locks").mkdir(parents=True, exist_ok=True)
    fd = os.open(cache / "locks" / f"{key}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned(cache: Path) -> list[Path]:
    """tmp/ entries whose process is gone (an interrupted build): never finished, removed."""
    removed = []
    tmp = cache / "tmp"
    for entry in sorted(tmp.iterdir()) if tmp.is_dir() else []:
        match = re.match(r"^(\d+)-", entry.name)
        if match is None or not _pid_alive(int(match.group(1))):
            remove_staging(entry)
            if not entry.exists():
                removed.append(entry)
    return removed


def _new_tmp(cache: Path, key: str) -> Path:
    (cache / "tmp").mkdir(parents=True, exist_ok=True)
    path = cache / "tmp" / f"{os.getpid()}-{key}-{time.monotonic_ns()}"
    path.mkdir()
    return path


def _sums(directory: Path, names: Sequence[str]) -> str:
    return "".join(f"{sha256_file(directory / name)}  {name}\n" for name in names)


def _complete(entry: Path) -> dict[str, str] | None:
    """A finished entry's digests (name -> sha256), when its SHA256SUMS exist and every file still matches."""
    sums = entry / "SHA256SUMS"
    if not sums.is_file():
        return None
    digests = {}
    for line in sums.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if not (entry / name).is_file() or sha256_file(entry / name) != digest:
            return None
        digests[name] = digest
    return digests


def _publish(tmp: Path, final: Path, files: Sequence[str], inputs: dict[str, object]) -> None:
    """Record the digests and inputs, then rename the whole entry into place (atomic)."""
    (tmp / "inputs.json").write_text(json.dumps(inputs, indent=1, sort_keys=True) + "\n")
    (tmp / "SHA256SUMS").write_text(_sums(tmp, [*files, "inputs.json"]))
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # a damaged entry (checked under the lock): replaced
        shutil.rmtree(final)
    os.rename(tmp, final)


# ------------------------------------------------------------------------------------ the Debian base


@dataclass(frozen=True)
class DebianBase:
    """The rootfs both builds start from: `debootstrap --variant=<variant> <suite>`, packed as tar.zst."""

    suite: str = "bookworm"
    variant: str = "minbase"
    mirror: str = DEBIAN_MIRROR

    def command(self, target: Path) -> list[str]:
        return ["debootstrap", f"--variant={self.variant}", self.suite, str(target), self.mirror]


def debootstrap_version() -> str:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "debootstrap"], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def ensure_base(base: DebianBase | None = None, cache: Path | None = None) -> CachedFile:
    """The base rootfs tarball: from the cache, or bootstrapped now (about 40 s) and cached."""
    base = base or DebianBase(mirror=debian_mirror())
    cache = cache or cache_root()
    key = key_of([("suite", base.suite), ("variant", base.variant), ("mirror", base.mirror),
                  ("debootstrap", debootstrap_version())])
    final = cache / "base" / key
    name = "rootfs.tar.zst"
    with _locked(cache, key):
        remove_abandoned(cache)
        done = _complete(final)
        if done is not None:
            return CachedFile(final / name, done[name], built=False, seconds=0.0)
        if shutil.which("debootstrap") is None:
            raise ImageCacheError("step 'Debian base': debootstrap is not installed. Fix: run `make system-deps` "
                                  "(distrobuilder depends on it), or apt-get install debootstrap")
        start = time.monotonic()
        tmp = _new_tmp(cache, key)
        try:
            rootfs = tmp / "rootfs"
            proc = subprocess.run(base.command(rootfs), capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith(("E:", "W:"))]
                (cache / "failed").mkdir(parents=True, exist_ok=True)
                log = cache / "failed" / f"base-{key}.log"
                log.write_text(proc.stdout + proc.stderr)
                raise ImageCacheError(
                    f"step 'Debian base': `{' '.join(base.command(rootfs))}` failed (exit {proc.returncode}): "
                    f"{'; '.join(errors[-3:]) or 'see the log'}. Fix: check that this machine reaches "
                    f"{base.mirror} (apt-get update), or point {MIRROR_VARIABLE} at a Debian mirror that has "
                    f"{base.suite}. Full log: {log}"
                )
            # what an image does not need: the downloaded .debs and the package lists (the build refreshes them)
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for item in (rootfs / junk).glob("*"):
                    if item.is_file() and item.name != "lock":
                        item.unlink()
            _pack(rootfs, tmp / name)
            shutil.rmtree(rootfs)
            _publish(tmp, final, [name], {"base": base.command(Path("<rootfs>")),
                                         "debootstrap": debootstrap_version(),
                                         "seconds": round(time.monotonic() - start, 1)})
        finally:
            remove_staging(tmp)
        return CachedFile(final / name, sha256_file(final / name), built=True, seconds=time.monotonic() - start)


def _pack(rootfs: Path, tarball: Path) -> None:
    """tar | zstd, numeric owners and xattrs kept (distrobuilder's rootfs-http unpacks it as root)."""
    with tarball.open("wb") as out:
        tar = subprocess.Popen(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", str(rootfs),
                                "-cf", "-", "."], stdout=subprocess.PIPE)
        zstd = subprocess.run(["zstd", "-q", "-T0", "-3", "-c"], stdin=tar.stdout, stdout=out)
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or zstd.returncode != 0:
            raise ImageCacheError(f"step 'Debian base': packing {rootfs} failed (tar {tar.returncode}, zstd "
                                  f"{zstd.returncode}). Fix: check the free space under {tarball.parent}")


# ------------------------------------------------------------------------------------ the fake .run


def ensure_fake_run(version: str, cache: Path | None = None) -> CachedFile:
    """The stand-in NVIDIA installer at a path named by its own sha256 (so the definition is stable)."""
    from .fake_run import fake_run_file_bytes

    cache = cache or cache_root()
    digest = hashlib.sha256(fake_run_file_bytes(version)).hexdigest()
    path = write_fake_run_file(cache / "run" / digest[:32], version)
    return CachedFile(path, digest, built=False, seconds=0.0)


# ------------------------------------------------------------------------------------ images


def distrobuilder_version() -> str:
    proc = subprocess.run(["distrobuilder", "--version"], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "missing"


def image_key(image: NvidiaImage, local_inputs: Sequence[CachedFile], distrobuilder: str,
              build_args: Sequence[str]) -> str:
    """What determines the built image: the definition, the bytes of its local inputs, the tool and its args."""
    return key_of([("definition", image.to_yaml()),
                   *((f"input {f.path.name}", f.sha256) for f in local_inputs),
                   ("distrobuilder", distrobuilder), ("build_args", "\0".join(build_args))])


def ensure_image(image: NvidiaImage, local_inputs: Sequence[CachedFile], cache: Path | None = None,
                 build_args: Sequence[str] = BUILD_ARGS) -> CachedFile:
    """The image's template tarball: from the cache, or built now with `pve_gpu_lxc.image.build`."""
    cache = cache or cache_root()
    key = image_key(image, local_inputs, distrobuilder_version(), build_args)
    final = cache / "images" / key
    name = image.template_file_name
    with _locked(cache, key):
        remove_abandoned(cache)
        done = _complete(final)
        if done is not None:
            return CachedFile(final / name, done[name], built=False, seconds=0.0)
        start = time.monotonic()
        tmp = _new_tmp(cache, key)
        try:
            out = tmp / "out"
            try:
                build(image, out, build_args=build_args, quiet=True)
            except ImageBuildFailed as err:
                # the log outlives the work directory, and the message points at it
                (cache / "failed").mkdir(parents=True, exist_ok=True)
                saved = cache / "failed" / f"{key}.build.log"
                if err.log_path is not None and err.log_path.exists():
                    shutil.copyfile(err.log_path, saved)
                raise ImageBuildFailed(err.failure, saved, err.exit_code) from None
            files = [name, "meta.tar.xz", f"{image.name}.yaml"]
            for file in files:
                os.rename(out / file, tmp / file)
            shutil.rmtree(out)
            _publish(tmp, final, files, {"image": image.name, "inputs": {f.path.name: f.sha256 for f in local_inputs},
                                         "distrobuilder": distrobuilder_version(), "build_args": list(build_args),
                                         "seconds": round(time.monotonic() - start, 1)})
        finally:
            remove_staging(tmp)
        return CachedFile(final / name, sha256_file(final / name), built=True, seconds=time.monotonic() - start)

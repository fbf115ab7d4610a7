"""`pve-gpu-lxc facts --node NAME --ssh USER@HOST[:PORT]`: record a node's host facts over SSH.

Runs the installed read-only collector (`pve_gpu_lxc/facts/collect-host-facts.sh`) on the node
as `sh -s`, through the SSH runner of `pve-gpu-lxc check` (`check/ssh.py`: `ssh -F none`,
BatchMode, strict host keys from `$HOME/.ssh/known_hosts`, argv lists only: nothing typed on
the command line reaches a shell), checks the document with the library's own loader, and
replaces `stacks/facts/<NAME>.json` atomically (a temporary file in the same directory, renamed):
a failed or refused run leaves the old file as it was.

Key: `--identity FILE`, else `PROXMOX_VE_SSH_PRIVATE_KEY`, else the ssh-agent, else ssh's own
`~/.ssh/id_*`.  Exit codes (`exit_codes.py`): 0 recorded, 1 an error with its cause on one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ValidationError
from ..facts import HostFacts, collector_script
from ..model import validation
from .check.ssh import SshError, SshRunner, SshTarget, parse_target
from .exit_codes import EXIT_ERROR, EXIT_OK
from .node_facts import facts_path

TIMEOUT_S = 900.0  # every template is decompressed up to its /etc/group; xz is slow on big caches


class FactsError(Exception):
    """The facts were not recorded; str() is one line with the cause and the fix."""


@dataclass(frozen=True)
class FactsOptions:
    node: str
    ssh: str
    out: Path
    identity: Path | None = None
    allow_hostname_mismatch: bool = False
    timeout: float = TIMEOUT_S


def options_from_args(args: argparse.Namespace) -> FactsOptions:
    out = args.out if args.out is not None else facts_path(args.project_dir, args.node)
    return FactsOptions(node=args.node, ssh=args.ssh, out=out.resolve(), identity=args.identity,
                        allow_hostname_mismatch=args.allow_hostname_mismatch)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    options = options_from_args(args)
    try:
        facts = record(options, environ)
    except FactsError as err:
        print(f"pve-gpu-lxc facts: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(summary(facts, options.out))
    return EXIT_OK


def record(options: FactsOptions, environ: Mapping[str, str]) -> HostFacts:
    """Collect over SSH, validate, write atomically; the recorded facts."""
    text, facts = collect(options, environ)
    _write_atomically(options.out, text)
    return facts


def collect(options: FactsOptions, environ: Mapping[str, str]) -> tuple[str, HostFacts]:
    """Run the collector over SSH and validate its document (nothing written): its text and the facts."""
    target = ssh_target(options)
    text = _collect(target, options, environ)
    return text, _validated(text, target, options.node, options)


def ssh_target(options: FactsOptions) -> SshTarget:
    """--node and --ssh (and --identity) checked: where the session goes."""
    try:
        node = validation.node_name(options.node)
    except ValidationError as err:
        raise FactsError(f"--node: {err}") from None
    try:
        target = parse_target(node, options.ssh)
    except SshError as err:
        raise FactsError(str(err)) from None
    if options.identity is not None and not options.identity.is_file():
        raise FactsError(f"--identity {str(options.identity)!r} is not a file (an SSH private key)")
    return target


def _collect(target: SshTarget, options: FactsOptions, environ: Mapping[str, str]) -> str:
    script = collector_script().read_text(encoding="utf-8")
    try:
        with SshRunner(environ, timeout=options.timeout, identity_file=options.identity, default_keys=True) as ssh:
            return ssh.run(target, script, end="}")
    except SshError as err:
        raise FactsError(f"{err}; nothing written to {options.out}") from None


def _validated(text: str, target: SshTarget, node: str, options: FactsOptions) -> HostFacts:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        raise FactsError(
            f"{target}: the collector's output is not JSON ({err.msg} at line {err.lineno}; it starts with "
            f"{first[:80]!r}: a login script printing to stdout?); nothing written to {options.out}") from None
    try:
        facts = HostFacts.from_json(data, source=str(options.out))
    except ValidationError as err:
        raise FactsError(f"{target}: {err}; nothing written to {options.out}") from None
    if facts.hostname != node and not options.allow_hostname_mismatch:
        raise FactsError(
            f"{target} is node {facts.hostname!r}, not {node!r}: check --ssh, or pass --node {facts.hostname} "
            f"(--allow-hostname-mismatch writes it anyway); nothing written to {options.out}")
    return facts


def _write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file next to `path`, then rename: readers see the old file or the new one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise FactsError(f"cannot write {path}: {err}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # a file to commit, as `>` would create it (mkstemp makes 0600)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise FactsError(f"cannot write {path}: {err}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summary(facts: HostFacts, out: Path) -> str:
    """What was recorded, in a few lines: the node, its GPUs and driver, its templates' GIDs."""
    about = ", ".join(x for x in (facts.pve_version, f"kernel {facts.kernel}" if facts.kernel else None) if x)
    lines = [f"recorded node {facts.hostname!r}{f' ({about})' if about else ''} into {out}"]
    gpus = facts.gpus()
    lines.append(f"GPUs ({len(gpus)}):" if gpus else "GPUs: none recorded")
    lines += [f"  {g.describe()}" for g in gpus]
    if facts.nvidia is not None:
        lines.append(f"NVIDIA driver: {facts.nvidia_driver_version}")
    templates = facts.templates or ()
    lines.append(f"templates ({len(templates)}):" if templates else "templates: none in the node's template caches")
    lines += [f"  {t.describe()}" for t in templates]
    return "\n".join(lines)

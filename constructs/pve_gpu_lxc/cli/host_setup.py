"""`pve-gpu-lxc host-setup --node NAME [--ssh USER@HOST[:PORT]] [--apply]`: the NVIDIA boot set-up.

What it installs is `hostsetup.NvidiaBootSetup` (pure), sized from the node's facts (its GPUs'
Device Minors, where its nvidia-modprobe is) and the options (--modeset, --caps, --allow-profiling):
the same options every time, or a re-run takes back what an earlier one added.
Without --ssh the facts file is read and the set-up printed against the boot configuration it
records; with --ssh the node is read live by the facts collector (nothing written there).
--apply runs the set-up's script as `sh -s` over the same SSH runner as `facts` (argv lists only;
every value in the script validated and quoted), then records the node's facts again and checks
that a reboot now makes every node the set-up promises (`facts.boot.nodes_at_boot`).

Exit codes (`exit_codes.py`): 0 installed, or nothing to do; 2 changes pending (no --apply);
1 an error with its cause on one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ValidationError
from ..facts import HostFacts
from ..facts.boot import BootFacts
from ..facts.io import record_command
from ..hostsetup import APPLY_END, ENABLE_LINK, UNIT_PATH, NvidiaBootSetup
from ..hostsetup.nvidia import DEFAULT_NVIDIA_MODPROBE
from ..model import validation
from . import facts as facts_cmd
from .check.ssh import SshError, SshRunner
from .exit_codes import EXIT_ERROR, EXIT_FINDING, EXIT_OK
from .node_facts import facts_path

APPLY_TIMEOUT_S = 120.0


class HostSetupError(Exception):
    """The set-up was not planned or installed; str() is one line with the cause and the fix."""


@dataclass(frozen=True)
class HostSetupOptions:
    node: str
    facts: Path
    ssh: str | None = None
    apply: bool = False
    identity: Path | None = None
    modeset: bool = False
    caps: tuple[int, ...] = ()
    allow_profiling: bool = False


def options_from_args(args: argparse.Namespace) -> HostSetupOptions:
    facts = args.facts if args.facts is not None else facts_path(args.project_dir, args.node)
    try:
        caps = tuple(int(c) for c in args.caps.split(",") if c.strip()) if args.caps else ()
    except ValueError:
        raise HostSetupError(f"--caps {args.caps!r} is not a comma-separated list of numbers such as 1,2") from None
    return HostSetupOptions(node=args.node, facts=facts.resolve(), ssh=args.ssh, apply=args.apply,
                            identity=args.identity, modeset=args.modeset, caps=caps,
                            allow_profiling=args.allow_profiling)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    try:
        options = options_from_args(args)
        if options.apply and options.ssh is None:
            raise HostSetupError("--apply installs over SSH: give --ssh USER@HOST[:PORT]")
        facts = _current_facts(options, environ)
        setup = setup_for(facts, options)
        pending = plan(setup, facts.boot)
        print(describe(facts, setup, pending))
        if not options.apply:
            if pending:
                print(f"changes pending on {facts.hostname!r}: run with --ssh ... --apply to install them")
                return EXIT_FINDING
            return EXIT_OK
        _apply(setup, options, environ)
        recorded = _record_again(setup, options, environ)
    except HostSetupError as err:
        print(f"pve-gpu-lxc host-setup: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(f"recorded node {recorded.hostname!r} again into {options.facts}")
    return EXIT_OK


def _facts_options(options: HostSetupOptions) -> facts_cmd.FactsOptions:
    assert options.ssh is not None
    return facts_cmd.FactsOptions(node=options.node, ssh=options.ssh, out=options.facts, identity=options.identity)


def _current_facts(options: HostSetupOptions, environ: Mapping[str, str]) -> HostFacts:
    try:
        validation.node_name(options.node)
    except ValidationError as err:
        raise HostSetupError(f"--node: {err}") from None
    if options.ssh is not None:
        try:
            return facts_cmd.collect(_facts_options(options), environ)[1]
        except facts_cmd.FactsError as err:
            raise HostSetupError(str(err)) from None
    try:
        facts = HostFacts.load(options.facts)
    except ValidationError as err:
        raise HostSetupError(str(err)) from None
    if facts.hostname != options.node:
        raise HostSetupError(f"{options.facts} describes node {facts.hostname!r}, not {options.node!r}")
    return facts


def setup_for(facts: HostFacts, options: HostSetupOptions) -> NvidiaBootSetup:
    """The set-up this node needs, from its facts and the options."""
    where = f"{facts.source} (node {facts.hostname!r})"
    if facts.nvidia is None:
        raise HostSetupError(
            f"{where} records no NVIDIA driver (/proc/driver/nvidia/version): install the host driver of the "
            "version your containers pin and load it (modprobe nvidia), then re-record: "
            f"`{record_command(node=facts.hostname)}`")
    if facts.tools_recorded and facts.nvidia_modprobe is None:
        raise HostSetupError(
            f"{where}: nvidia-modprobe is not installed on the node; it makes the device nodes. It comes with "
            "NVIDIA's .run driver (/usr/bin/nvidia-modprobe) and, for Debian's driver packages, with the "
            "nvidia-modprobe package (contrib): install it, then run host-setup again")
    try:
        return NvidiaBootSetup(
            gpu_minors=facts.nvidia.device_minors,
            nvidia_modprobe=facts.nvidia_modprobe or DEFAULT_NVIDIA_MODPROBE,
            modeset=options.modeset,
            caps=options.caps,
            allow_profiling=options.allow_profiling,
        )
    except ValidationError as err:
        raise HostSetupError(f"{where}: {err}") from None


def plan(setup: NvidiaBootSetup, boot: BootFacts | None) -> list[str]:
    """One line per change the node still needs (empty: installed as it should be)."""
    if boot is None:
        return [f"{f.path}: unknown (the facts predate the boot configuration; read the node with --ssh)"
                for f in setup.files()]
    changes = []
    for f in setup.files():
        current = boot.file(f.path)
        if current is None:
            changes.append(f"{f.path}: create")
        elif current.text != f.text:
            changes.append(f"{f.path}: update")
    if (ENABLE_LINK, UNIT_PATH) not in boot.enabled:
        changes.append(f"{ENABLE_LINK}: enable")
    return changes


def describe(facts: HostFacts, setup: NvidiaBootSetup, pending: list[str]) -> str:
    at_boot = facts.nodes_at_boot()
    now = ", ".join(sorted(at_boot.created)) if at_boot is not None and at_boot.created else "none"
    lines = [
        f"node {facts.hostname!r} ({facts.source}): NVIDIA driver {facts.nvidia_driver_version}, "
        f"GPU minors {', '.join(str(m) for m in setup.gpu_minors)}, nvidia-modprobe {setup.nvidia_modprobe}",
        f"made at boot before pve-guests.service today: {now if at_boot is not None else 'not recorded'}",
        "the set-up:",
        setup.describe(),
    ]
    lines += ["to do:", *(f"  {c}" for c in pending)] if pending else ["nothing to do: the set-up is installed"]
    return "\n".join(lines)


def _apply(setup: NvidiaBootSetup, options: HostSetupOptions, environ: Mapping[str, str]) -> None:
    try:
        target = facts_cmd.ssh_target(_facts_options(options))
        with SshRunner(environ, timeout=APPLY_TIMEOUT_S, identity_file=options.identity, default_keys=True) as ssh:
            output = ssh.run(target, setup.apply_script(), end=APPLY_END)
    except (facts_cmd.FactsError, SshError) as err:
        raise HostSetupError(f"{err}; the node may hold part of the set-up: run host-setup --apply again") from None
    print("\n".join(f"  {line}" for line in output.splitlines()))


def _record_again(setup: NvidiaBootSetup, options: HostSetupOptions, environ: Mapping[str, str]) -> HostFacts:
    """Re-record the facts and check that a reboot now makes what the set-up (as applied) promises."""
    try:
        facts = facts_cmd.record(_facts_options(options), environ)
    except facts_cmd.FactsError as err:
        raise HostSetupError(f"installed, but recording the facts again failed: {err}") from None
    at_boot = facts.nodes_at_boot()
    missing = [n for n in setup.nodes() if at_boot is None or n not in at_boot]
    if missing:
        raise HostSetupError(f"installed, but the node's boot configuration as recorded still does not make "
                             f"{', '.join(missing)}: see {options.facts} (boot) and the node's journal")
    return facts

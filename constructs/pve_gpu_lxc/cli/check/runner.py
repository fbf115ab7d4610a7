"""The `check` command: synthesized stacks -> API configs + one probe per node -> findings.

Cost of one run, by construction: with password auth one `POST /access/ticket` (none with a
token), one `GET /nodes/{node}/lxc` per node (the containers there: vm_id collisions and
orphans, the `ownership` item), then one `GET /nodes/{node}/lxc/{vmid}/config` per GPU
container whose vm_id is not another's, and one SSH session per node, whatever the number of
stacks and containers.  Whether a container runs comes from the node's probe (`lxc-info`),
not from another API request.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ...core import names
from ...core.errors import ValidationError
from ...facts.model import HostFacts
from ...model.ownership import Listed, blocks
from ...pve import synthesized as expected  # what the stacks promise, per container
from .. import stacks as project_stacks
from ..exit_codes import EXIT_ERROR, combine
from ..node_facts import load_node_facts
from . import api as pve_api
from . import compare, findings, nodeconf, ownership, probe
from . import ssh as pve_ssh

PROG = "pve-gpu-lxc check"


class CheckError(Exception):
    """Stops the whole check before any node is asked; str() is one line."""


@dataclass(frozen=True)
class CheckOptions:
    project_dir: Path
    outdir: Path
    stacks: tuple[str, ...] = ()
    synth: project_stacks.SynthWhen = "auto"
    json_path: Path | None = None
    facts: Mapping[str, Path] = field(default_factory=dict)  # node -> facts file (--facts)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    api_timeout: float = pve_api.TIMEOUT_S
    ssh_timeout: float = pve_ssh.TIMEOUT_S


@dataclass
class _Stack:
    name: str
    dir: Path
    containers: list[expected.ExpectedContainer]
    provider: expected.ProviderSettings
    error: str | None = None
    managed: set[int] = field(default_factory=set)  # the vm_ids of all the stack's containers


# --------------------------------------------------------------------------------------------


def load_stack(outdir: Path, name: str) -> _Stack:
    stack_dir = outdir / "stacks" / name
    try:
        doc = expected.load(stack_dir / "cdk.tf.json")
        return _Stack(name, stack_dir, expected.containers(name, doc), expected.provider_settings(doc),
                      managed=expected.managed_vmids(doc))
    except (OSError, ValueError) as err:  # ExpectedError is a ValueError
        return _Stack(name, stack_dir, [], expected.ProviderSettings(), error=f"cannot read {name}: {err}")


def facts_for(node: str, options: CheckOptions) -> HostFacts | None:
    """--facts NODE=FILE, else <project>/stacks/facts/<node>.json when it exists, else None."""
    try:
        return load_node_facts(node, options.facts, options.project_dir)
    except ValidationError as err:
        raise CheckError(str(err)) from None


def _display_dir(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def check_stacks(options: CheckOptions, names: Sequence[str]) -> tuple[list[findings.StackResult], findings.Cost]:
    """Ask the nodes about every GPU container of the named stacks; never raises for a node."""
    started = time.monotonic()
    cost = findings.Cost()
    stacks = [load_stack(options.outdir, name) for name in names]
    all_containers = [(s, c) for s in stacks for c in s.containers]
    nodes = sorted({c.node for _, c in all_containers})
    facts = {node: facts_for(node, options) for node in nodes}  # CheckError: a bad facts file

    # 1. the API: the login, one container listing per node, one config read per container
    phase = time.monotonic()
    configs: dict[tuple[str, int], nodeconf.FoundConfig | None] = {}
    api_errors: dict[tuple[str, int], str] = {}
    listings: dict[str, list[Listed]] = {}
    blocking: dict[tuple[str, str], list[Listed]] = {}  # (stack, address) -> another's containers at its vm_id
    endpoint = None
    if all_containers:
        provider = next((s.provider for s in stacks if s.containers), expected.ProviderSettings())
        client: pve_api.PveApi | None = None
        try:
            settings = pve_api.settings_from(options.environ, provider)
            endpoint = settings.endpoint
            client = pve_api.PveApi(settings, timeout=options.api_timeout)
            client.login()
        except pve_api.ApiError as err:
            for _, c in all_containers:
                api_errors[(c.node, c.vmid)] = str(err)
        if client is not None and not api_errors:
            for node in nodes:
                cost.api_listings += 1
                try:
                    listings[node] = client.list_containers(node)
                except pve_api.ApiError as err:
                    for _, c in all_containers:
                        if c.node == node:
                            api_errors[(c.node, c.vmid)] = f"listing the containers of node {node}: {err}"
            for s, c in all_containers:
                if c.node in listings:
                    blocking[(s.name, c.address)] = [
                        listed for listed in listings[c.node]
                        if blocks(listed, stack=s.name, vm_id=c.vmid, hostname=c.hostname or "", imported=c.imported)]
            for s, c in all_containers:
                key = (c.node, c.vmid)
                if key in configs or key in api_errors or blocking.get((s.name, c.address)):
                    continue
                try:
                    data = client.container_config(c.node, c.vmid)
                    configs[key] = None if data is None else nodeconf.parse_config(data)
                except pve_api.ApiError as err:
                    api_errors[key] = str(err)
        if client is not None:
            cost.api_requests, cost.api_logins = client.requests, client.logins
    cost.api_seconds = time.monotonic() - phase


    # 2. SSH: one probe per node
    phase = time.monotonic()
    probes: dict[str, probe.NodeProbe] = {}
    ssh_errors: dict[str, str] = {}
    with pve_ssh.SshRunner(options.environ, timeout=options.ssh_timeout) as runner:
        for node in nodes:
            on_node = [(s, c) for s, c in all_containers if c.node == node and not blocking.get((s.name, c.address))]
            if all((c.node, c.vmid) in api_errors for _, c in on_node):
                continue  # nothing to compare with (none, or only another's containers): do not open a session
            request = _probe_request([c for _, c in on_node], configs)
            provider = next((s.provider for s, _ in on_node if any(n.name == node for n in s.provider.ssh_nodes)),
                            on_node[0][0].provider)
            try:
                target = pve_ssh.resolve_target(node, provider, options.environ, endpoint)
                probes[node] = probe.parse_output(runner.run(target, probe.build_input(request)))
            except pve_ssh.SshError as err:
                ssh_errors[node] = str(err)
        cost.ssh_sessions = runner.sessions
    cost.ssh_seconds = time.monotonic() - phase

    # 3. compare
    results = []
    for s in stacks:
        result = findings.StackResult(s.name, error=s.error)
        for c in s.containers:
            key = (c.node, c.vmid)
            ctx = compare.Context(stack=s.name, stack_dir=_display_dir(s.dir),
                                  facts_file=_facts_source(facts.get(c.node)))
            result.containers.append(compare.check_container(
                c, configs.get(key), probes.get(c.node), facts.get(c.node), ctx,
                api_error=api_errors.get(key), ssh_error=ssh_errors.get(c.node),
                blocking=blocking.get((s.name, c.address))))
        listed = [entry for node in sorted(listings) for entry in listings[node]]
        result.orphans = ownership.orphans(s.name, listed, s.managed, compare.Context(stack=s.name).deploy())
        results.append(result)
    cost.seconds = time.monotonic() - started
    return results, cost


def _probe_request(containers: Sequence[expected.ExpectedContainer],
                   configs: Mapping[tuple[str, int], nodeconf.FoundConfig | None]) -> probe.ProbeRequest:
    """What to read on one node; values that fail the probe's patterns are left out."""
    request = probe.ProbeRequest()
    for c in containers:
        conf = configs.get((c.node, c.vmid))
        paths = [d.path for d in c.devices] + [f.path for f in (conf.devices.values() if conf else ()) if f.path]
        for path in paths:
            if names.is_device_path(path):
                request.add_device(path)
        if c.hook is not None and c.hook.storage and c.hook.snippet:
            if names.is_storage_id(c.hook.storage) and names.is_snippet_file(c.hook.snippet):
                request.add_hook(c.hook.storage, c.hook.snippet)
        if names.is_vmid(c.vmid) and all(vmid != c.vmid for vmid, _ in request.containers):
            request.containers.append((c.vmid, [d.path for d in c.devices if names.is_device_path(d.path)]))
    return request


# --------------------------------------------------------------------------------------------
# the command


def _prepare(options: CheckOptions, run: project_stacks.Runner, err: TextIO) -> list[str]:
    for node, path in options.facts.items():
        if not Path(path).is_file():
            raise CheckError(f"--facts {node}={path}: no such file")
    return project_stacks.ready_stacks(options.project_dir, options.outdir, synth=options.synth,
                                       wanted=options.stacks, run=run, env=project_stacks.tool_env(options.environ),
                                       progress=err)


def run_check(options: CheckOptions, *, run: project_stacks.Runner = project_stacks.run_subprocess,
              out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The whole command; returns the exit code (0 clean, 2 findings, 1 error)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        stacks = _prepare(options, run, err)
        results, cost = check_stacks(options, stacks)
    except (project_stacks.StacksError, CheckError) as exc:
        print(f"{PROG}: error: {exc}", file=err)
        _write_json(options.json_path, findings.report_document([], error=str(exc)), err)
        return EXIT_ERROR
    for result in results:
        print(findings.format_stack(result), file=out)
    print(findings.format_footer(results, cost), file=out)
    for result in results:
        for c in result.containers:
            for e in c.errors:
                print(f"{PROG}: error: {result.stack}: {c.label}: {e}", file=err)
        if result.error:
            print(f"{PROG}: error: {result.stack}: {result.error}", file=err)
    if not _write_json(options.json_path, findings.report_document(results, cost), err):
        return EXIT_ERROR
    return findings.exit_code(results)


def _facts_source(facts: HostFacts | None) -> str | None:
    return str(facts.source) if facts is not None else None


def _write_json(path: Path | None, doc: dict[str, Any], err: TextIO) -> bool:
    if path is None:
        return True
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2) + "\n")
    except OSError as exc:
        print(f"{PROG}: error: cannot write {path}: {exc}", file=err)
        return False
    return True


def after_drift(project_dir: Path, outdir: Path, environ: Mapping[str, str], json_path: Path | None,
                stacks: Sequence[str], drift_code: int, *, out: TextIO, err: TextIO) -> int:
    """`drift --live`: the same checks after the refresh, for the same stacks; the combined code.
    `json_path`: drift's --json report, which gets the check's report as "live"."""
    check_options = CheckOptions(project_dir=project_dir, outdir=outdir, stacks=tuple(stacks),
                                 synth="never", json_path=None, environ=environ)
    print("== live check (pve-gpu-lxc check) ==", file=out)
    error = None
    try:
        results, cost = check_stacks(check_options, stacks)
    except CheckError as exc:
        error, results, cost = str(exc), [], findings.Cost()
        print(f"pve-gpu-lxc drift --live: error: {exc}", file=err)
    for result in results:
        print(findings.format_stack(result), file=out)
    if results:
        print(findings.format_footer(results, cost), file=out)
    check_code = findings.exit_code(results, error)
    code = combine(drift_code, check_code)
    if json_path is not None:
        try:
            doc = json.loads(json_path.read_text())
        except (OSError, ValueError):
            doc = {}
        doc["live"] = findings.report_document(results, cost, error)
        doc["exit_code"] = code
        if not _write_json(json_path, doc, err):
            return EXIT_ERROR
    return code

"""`pve-gpu-lxc explain [STACK[/CONTAINER]...]`: what lands on the node after an apply.

From the synthesized JSON alone (no node, no Terraform run), for each GPU container:

* `/etc/pve/lxc/<vmid>.conf` as PVE writes it after bpg's create, its SSH idmap step and the
  start (pve.bpg builds bpg's request, pve.create applies PVE's create to it, pve.conf writes
  the file with the writer the simulated node uses); values PVE decides at create time are
  listed under the file, attributes explain does not model too;
* the `/etc/subuid` and `/etc/subgid` lines the idmap needs beyond PVE's stock
  `root:100000:65536` (and, with host facts that record them, which are missing on the node);
* each `devN`: the host device, its major:minor from the host facts, and owner, group and
  mode inside the container;
* the idmap as a table of container ranges -> host ranges with the passthrough holes marked,
  and with `--svg FILE` as a drawing (one container per file: select exactly one);
* ownership: the container's ownership tag (in the file's `tags`), whether the plan guards its
  vm_id, and whether it is imported (`import_existing=True`).

A container from an OCI image (`operating_system.template_file_id` = a `proxmox_oci_image`'s id):
its file is the create's options, then what restore_oci_archive writes from the image's config
(pve.oci, from the host facts' record of the pulled archive, matched by its volume id), then what
its pre-start hookscript writes at the first start (the declared entrypoint and env), then bpg's
idmap lines.  Without the image in the host facts (not pulled yet), the lines the image decides
are named as not predicted, with the fix.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from ..facts import HostFacts, record_command
from ..model.hooks import writes_app_config
from ..model.idmap import IdMap, IdMapEntry, Kind
from ..model.ownership import ownership_tag, stack_prefix
from ..pve import bpg, create, oci, synthesized
from ..pve.version import DEFAULT_PVE_VERSION
from . import stacks as project_stacks
from .exit_codes import EXIT_ERROR, EXIT_OK
from .idmap_picture import svg, table
from .node_facts import load_node_facts
from .project_args import parse_facts_options, synth_outdir

PROG = "pve-gpu-lxc explain"
NOT_RECORDED = "(not recorded)"


class ExplainError(Exception):
    pass


@dataclass(frozen=True)
class DeviceLine:
    key: str  # dev0
    path: str
    major_minor: str  # "226:128" or NOT_RECORDED
    uid: int
    gid: int
    mode: str



@dataclass(frozen=True)
class ImageSource:
    """Where an OCI container's image config comes from, for explain."""

    address: str  # proxmox_oci_image.<name>
    reference: str | None
    volid: str | None
    recorded_in: str | None = None  # the host facts file that records its config; None: not recorded
    missing: str | None = None  # why not recorded
    app_config: bool = False  # the hookscript writes the declared entrypoint and env at every start

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "reference": self.reference, "volid": self.volid,
                "recorded_in": self.recorded_in, "missing": self.missing, "hook_writes_app_config": self.app_config}


@dataclass
class Explanation:
    stack: str
    name: str
    node: str
    vmid: int
    conf: str | None = None  # None: not predictable (see problem)
    problem: str | None = None
    decided_by_pve: list[tuple[str, str]] = field(default_factory=list)
    unmodelled: list[str] = field(default_factory=list)
    subuid: list[str] = field(default_factory=list)
    subgid: list[str] = field(default_factory=list)
    missing_on_node: list[str] = field(default_factory=list)
    facts_source: str | None = None
    devices: list[DeviceLine] = field(default_factory=list)
    idmap_kind: str = "none"  # "lxc.idmap" | "PVE default" | "none" (privileged)
    idmap: tuple[IdMapEntry, ...] = ()
    idmap_error: str | None = None
    pve_version: str = ""
    host_groups: dict[int, str] = field(default_factory=dict)  # from the host facts
    ownership_tag: str | None = None
    guarded: bool = False
    imported: bool = False
    image: ImageSource | None = None  # a container from an OCI image
    not_predicted: list[str] = field(default_factory=list)  # keys of the file the image decides, unknown

    @property
    def label(self) -> str:
        return f"{self.stack}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack, "container": self.name, "node": self.node, "vmid": self.vmid,
            "conf_path": f"/etc/pve/lxc/{self.vmid}.conf", "pve_version": self.pve_version, "conf": self.conf,
            "problem": self.problem,
            "decided_by_pve": [{"key": k, "note": n} for k, n in self.decided_by_pve],
            "not_modelled": self.unmodelled, "subuid": self.subuid, "subgid": self.subgid,
            "missing_on_node": self.missing_on_node, "facts": self.facts_source,
            "devices": [vars(d) for d in self.devices],
            "idmap": {"source": self.idmap_kind, "error": self.idmap_error,
                      "entries": [{"kind": e.kind, "container_id": e.container_id, "host_id": e.host_id,
                                   "size": e.size} for e in self.idmap]},
            "ownership": {"tag": self.ownership_tag, "guarded": self.guarded, "imported": self.imported},
            "oci_image": self.image.to_json() if self.image else None, "not_predicted": self.not_predicted,
        }

    def image_lines(self) -> list[str]:
        """Where an OCI container's lines come from, and which are not predicted (with the fix)."""
        if self.image is None:
            return []
        i = self.image
        out = [f"  OCI image {i.reference or '(reference only known at apply time)'} ({i.address}, "
               f"{i.volid or 'its volume id is only known at apply time'})"]
        hook = ("then the hookscript writes the declared entrypoint and env at the first start" if i.app_config
                else "the hookscript does not write the declared entrypoint and env, so the image's stay (and the "
                     "next plan puts the declared ones back with an update and a reboot)")
        if i.recorded_in is not None:
            out.append(f"    restore_oci_archive's lines from the image config recorded in {i.recorded_in}; {hook}")
        elif self.not_predicted:
            out.append(f"    not predicted (restore_oci_archive writes them from the image's config): "
                       f"{', '.join(self.not_predicted)}; {i.missing}")
            out.append(f"    fix: after the first apply has pulled the image, record the node again: "
                       f"`{record_command(node=self.node)}`; {hook}")
        return out

    def ownership_lines(self) -> list[str]:
        """How the container is told apart from others on the cluster (README "What is guarded")."""
        tag = f"tag {self.ownership_tag}" if self.ownership_tag else "no ownership tag"
        if self.imported:
            return [f"  ownership: imported (import_existing=True): the apply imports CT {self.vmid} "
                    f"({self.node}/{self.vmid}), updates it to this configuration and adds its {tag}; the file "
                    "above is what a create writes, the imported container keeps what the update does not set"]
        guard = (f"the plan stops when vm_id {self.vmid} is taken by a container without a "
                 f"{stack_prefix(self.stack)}* tag" if self.guarded else f"no guard: the plan does not check vm_id "
                 f"{self.vmid} (the resource has no precondition)")
        return [f"  ownership: {tag} (sent in bpg's create request); {guard}"]


def facts_pve_version(facts: HostFacts | None) -> tuple[int, int] | None:
    """`pve-manager/8.4.1/...` as pveversion prints it (the facts' pve_version) -> (8, 4)."""
    match = re.match(r"pve-manager/(\d+)\.(\d+)", (facts.pve_version or "") if facts else "")
    return (int(match.group(1)), int(match.group(2))) if match else None


# --- building ----------------------------------------------------------------------------------


def _facts_for(node: str, given: Mapping[str, Path], project_dir: Path) -> HostFacts | None:
    """The node's host facts (`load_node_facts`); a file in the project is named by its path in the project."""
    try:
        facts = load_node_facts(node, given, project_dir)
    except (OSError, ValueError) as err:  # ValidationError is a ValueError
        raise ExplainError(f"host facts for node {node!r}: {err}") from None
    if facts is not None and Path(facts.source).is_relative_to(project_dir):
        facts = replace(facts, source=str(Path(facts.source).relative_to(project_dir)))
    return facts


def _oci_inputs(out: Explanation, c: synthesized.ExpectedContainer, body: Mapping[str, Any],
                facts: HostFacts | None, image: synthesized.OciImage | None,
                ) -> tuple[oci.ImageConfig | None, oci.AppConfig | None]:
    """For a container from an OCI image: the image's config as the host facts record it (None: not
    recorded) and what its hookscript writes at the start (None: nothing); sets `out.image`."""
    if image is None:
        return None, None
    # the product's pre-start step (docs/oci-research.md candidate 5) leaves the declared values in the file
    writes = c.hook is not None and writes_app_config(c.hook.content)
    app = oci.AppConfig(bpg.entrypoint(body), bpg.environment(body)) if writes else None
    source = ImageSource(image.address, image.reference, image.volid, app_config=writes)
    out.image = source
    if image.volid is None:
        raise bpg.Unknown(f"the volume id of {image.address} (its datastore_id or file_name)")
    recorded = facts.template(image.volid) if facts is not None else None
    if facts is None:
        missing = f"there are no host facts for node {c.node!r}"
    elif recorded is None:
        missing = f"{image.volid} is not in {out.facts_source} (the image is not pulled yet)"
    elif recorded.oci is None:
        missing = (f"{out.facts_source} records {image.volid} but not as an OCI image (recorded before the "
                   "collector read OCI images?)")
    elif recorded.oci.error is not None or recorded.oci.config is None:
        missing = f"the collector could not read {image.volid}: {recorded.oci.error or 'no image config'}"
    else:
        try:
            config = oci.ImageConfig.from_json(recorded.oci.config, passwd=recorded.oci.passwd,
                                               group=recorded.oci.group)
        except oci.OciConfigError as err:
            raise ValueError(f"PVE's create fails on the image config of {image.volid}: {err}") from None
        out.image = replace(source, recorded_in=out.facts_source)
        return config, app
    out.image = replace(source, missing=missing)
    return None, app


def _not_predicted(request: bpg.CreateRequest, app: oci.AppConfig | None) -> list[str]:
    """The keys of the file restore_oci_archive decides from an image config explain does not have."""
    keys = [] if request.params.get("cmode") == "console" else ["cmode"]
    keys += [] if app is not None else ["entrypoint", "env (lxc.environment.runtime)"]
    keys += [f"{key} host-managed" for key, value in sorted(request.params.items())
             if re.fullmatch(r"net\d+", key) and "host-managed=" not in value]
    return keys + list(oci.INIT_KEYS)


def explain_container(stack: str, c: synthesized.ExpectedContainer, body: Mapping[str, Any],
                      facts: HostFacts | None, pve_version: tuple[int, int] | None = None,
                      image: synthesized.OciImage | None = None) -> Explanation:
    """Everything `explain` shows for one container (pure but for what `facts` holds).

    `pve_version`: the node's, else the facts' recorded one, else DEFAULT_PVE_VERSION; `image`: the
    OCI image its template_file_id refers to (synthesized.oci_image)."""
    out = Explanation(stack, c.name, c.node, c.vmid, facts_source=str(facts.source) if facts else None)
    version = pve_version or facts_pve_version(facts) or DEFAULT_PVE_VERSION
    out.pve_version = f"{version[0]}.{version[1]}"
    out.ownership_tag = ownership_tag(c.tags, stack)
    out.guarded, out.imported = c.guarded, c.imported
    out.host_groups = {gid: name for name, gid in facts.groups} if facts is not None else {}
    try:
        hook = c.hook.volid if c.hook is not None else None
        if hook is not None and hook.endswith(":snippets/?"):
            raise bpg.Unknown(f"the hookscript's volume id ({c.hook.note if c.hook else ''})")
        config, app = _oci_inputs(out, c, body, facts, image)
        request = bpg.create_request(body, hookscript=hook, template=out.image.volid if out.image else None,
                                     pve_version=version)
        if out.image is not None and config is None:
            out.not_predicted = _not_predicted(request, app)
        predicted = create.created_conf(request, config, app)
        out.conf = predicted.text
        out.decided_by_pve = [(n.key, n.text) for n in predicted.notes]
        out.unmodelled = list(request.unmodelled)
    except (bpg.Unknown, ValueError) as err:
        out.problem = f"the file cannot be predicted: {err}"
    for d in c.devices:
        node = facts.node(d.path) if facts is not None else None
        numbers = f"{node.major}:{node.minor}" if node is not None and node.major is not None else NOT_RECORDED
        out.devices.append(DeviceLine(f"dev{d.index}", d.path, numbers, d.uid, d.gid, d.mode or "0660"))
    lines = c.effective_idmap
    if lines:
        out.idmap_kind = "lxc.idmap" if c.idmap else "PVE default"
        try:
            idmap = IdMap.from_lxc_lines(lines)
        except ValueError as err:
            out.idmap_error = str(err)
        else:
            out.idmap = idmap.entries
            out.subuid = idmap.subuid_lines()
            out.subgid = idmap.subgid_lines()
            if facts is not None:
                subid_files: tuple[tuple[Kind, str], ...] = (("u", "subuid"), ("g", "subgid"))
                for kind, name in subid_files:
                    if facts.subids(kind) is None:
                        continue
                    ranges = [(e.host_id, e.size) for e in idmap.entries if e.kind == kind]
                    out.missing_on_node += [f"/etc/{name}: root:{r.start}:{r.count}"
                                            for r in facts.uncovered_subids(kind, ranges)]
    return out


def explain_stack(stack: str, doc: Mapping[str, Any], facts_for: Callable[[str], HostFacts | None],
                  pve_version: tuple[int, int] | None = None) -> list[Explanation]:
    bodies = synthesized.resources(doc, synthesized.CONTAINER_TYPE, stack=stack)
    return [explain_container(stack, c, bodies[c.name], facts_for(c.node), pve_version,
                              synthesized.oci_image(f"{stack}: {c.address}", bodies[c.name], doc))
            for c in synthesized.containers(stack, doc)]


# --- formatting --------------------------------------------------------------------------------


def _indent(text: str, prefix: str = "    ") -> str:
    return "".join(prefix + line + "\n" for line in text.splitlines())


def format_explanation(e: Explanation) -> str:
    out = [f"{e.label}: CT {e.vmid} on node {e.node}"]
    path = f"/etc/pve/lxc/{e.vmid}.conf"
    if e.conf is None:
        out.append(f"  {path}: {e.problem}")
    else:
        if e.not_predicted:
            out.append(f"  {path} after apply on PVE {e.pve_version}, without the lines the OCI image decides "
                       "(named below):")
        else:
            start = ", its first start included," if e.image is not None else ""
            out.append(f"  {path} after apply{start} on PVE {e.pve_version} (between the lines, exactly as PVE "
                       "writes it):")
        out.append("-" * 8 + " begin " + path)
        out.append(e.conf.rstrip("\n"))
        out.append("-" * 8 + " end " + path)
        for key, note in e.decided_by_pve:
            out.append(f"  decided by PVE at create: {key}: {note}")
        if e.unmodelled:
            out.append(f"  not modelled by explain (the file may differ there): {', '.join(e.unmodelled)}")
    out += e.image_lines()
    out += e.ownership_lines()
    if e.idmap_kind == "none":
        out.append("  /etc/subuid, /etc/subgid: nothing (a privileged container maps no ids)")
    else:
        for name, lines in (("/etc/subuid", e.subuid), ("/etc/subgid", e.subgid)):
            text = ", ".join(lines) if lines else "nothing beyond PVE's stock root:100000:65536"
            out.append(f"  {name} on {e.node}: add {text}" if lines else f"  {name} on {e.node}: {text}")
        for line in e.missing_on_node:
            out.append(f"  missing on the node per the host facts: {line}")
    source = e.facts_source or "no host facts for this node"
    out.append(f"  devices ({source}):")
    if e.devices:
        width = max(len(d.path) for d in e.devices)
        for d in e.devices:
            out.append(f"    {d.key:<5} {d.path:<{width}}  {d.major_minor:<14}  in the container: "
                       f"uid {d.uid}, gid {d.gid}, mode {d.mode}")
    if e.idmap_kind == "none":
        out.append("  idmap: none (privileged: container ids are host ids)")
    elif e.idmap_error:
        out.append(f"  idmap ({e.idmap_kind}): {e.idmap_error}")
    else:
        out.append(f"  idmap ({e.idmap_kind}), container -> host:")
        out.append(_indent(table(e.idmap, host_groups=e.host_groups)).rstrip("\n"))
    return "\n".join(out) + "\n"


# --- the command -------------------------------------------------------------------------------


def _split_targets(targets: Sequence[str]) -> tuple[list[str], dict[str, set[str]]]:
    stacks: list[str] = []
    containers: dict[str, set[str]] = {}
    for target in targets:
        stack, _, name = target.partition("/")
        if not stack or (name == "" and target.endswith("/")):
            raise ExplainError(f"{target!r} is not STACK or STACK/CONTAINER")
        if stack not in stacks:
            stacks.append(stack)
        if name:
            containers.setdefault(stack, set()).add(name)
        else:
            containers.setdefault(stack, set()).add("*")
    return stacks, containers


def run(args: argparse.Namespace, environ: Mapping[str, str], *,
        run_command: project_stacks.Runner = project_stacks.run_subprocess,
        out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        results = _explain(args, environ, run_command, err)
        if args.svg is not None:
            _write_svg(args.svg, results)
    except (ExplainError, project_stacks.StacksError, synthesized.ExpectedError) as exc:
        print(f"{PROG}: error: {exc}", file=err)
        return EXIT_ERROR
    for e in results:
        print(format_explanation(e), file=out)
    if not results:
        print("no GPU containers in the selected stacks", file=out)
    if args.json_path is not None:
        try:
            args.json_path.write_text(json.dumps({"containers": [e.to_json() for e in results]}, indent=2) + "\n")
        except OSError as exc:
            print(f"{PROG}: error: cannot write {args.json_path}: {exc}", file=err)
            return EXIT_ERROR
    return EXIT_OK


def _explain(args: argparse.Namespace, environ: Mapping[str, str], run_command: project_stacks.Runner,
             err: TextIO) -> list[Explanation]:
    project_dir = args.project_dir.resolve()
    outdir = synth_outdir(args, environ)
    try:
        given = parse_facts_options(args.facts)
    except ValueError as exc:
        raise ExplainError(str(exc)) from None
    for node, path in given.items():
        if not path.is_file():
            raise ExplainError(f"--facts {node}={path}: no such file")
    stacks, wanted = _split_targets(args.targets)
    names = project_stacks.ready_stacks(project_dir, outdir, synth=args.synth, wanted=stacks, run=run_command,
                                        env=project_stacks.tool_env(environ), progress=err)
    facts_cache: dict[str, HostFacts | None] = {}

    def facts_for(node: str) -> HostFacts | None:
        if node not in facts_cache:
            facts_cache[node] = _facts_for(node, given, project_dir)
        return facts_cache[node]

    results: list[Explanation] = []
    for stack in names:
        path = outdir / "stacks" / stack / "cdk.tf.json"
        try:
            doc = synthesized.load(path)
        except (OSError, ValueError) as exc:  # ExpectedError is a ValueError
            raise ExplainError(f"cannot read {path}: {exc}") from None
        found = explain_stack(stack, doc, facts_for, args.pve_version)
        selected = wanted.get(stack, {"*"})
        if "*" not in selected:
            unknown = sorted(selected - {e.name for e in found})
            if unknown:
                have = ", ".join(e.name for e in found) or "none"
                raise ExplainError(f"{stack}: no GPU container {unknown[0]!r} (GPU containers: {have})")
            found = [e for e in found if e.name in selected]
        results += found
    return results


def _write_svg(path: Path, results: Sequence[Explanation]) -> None:
    if len(results) != 1:
        labels = ", ".join(e.label for e in results) or "none"
        raise ExplainError(f"--svg draws one container's idmap: select one as STACK/CONTAINER (selected: {labels})")
    e = results[0]
    if not e.idmap:
        why = e.idmap_error or "a privileged container has no idmap"
        raise ExplainError(f"--svg: {e.label} has no idmap to draw ({why})")
    title = f"{e.label}: CT {e.vmid} on {e.node}, idmap ({e.idmap_kind})"
    try:
        path.write_text(svg(e.idmap, title=title))
    except OSError as exc:
        raise ExplainError(f"cannot write {path}: {exc}") from None

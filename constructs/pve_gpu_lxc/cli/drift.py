"""The `drift` command: synthesize, then `terraform plan` every stack and summarise it.

`cdktf diff` exits 0 whether or not anything drifted, so a pipeline cannot
fail on it.  This runs Terraform (or OpenTofu: `find_terraform`) itself in
`cdktf.out/stacks/<stack>`:

    terraform init -input=false              (keeps the stack's backend)
    terraform plan -refresh-only -detailed-exitcode -out=<file>   (drift)
    terraform plan -detailed-exitcode -out=<file>                 (--plan)
    terraform show -json <file>

and hands the JSON to the plan report (`cli/plan/`, pure).  Synthesis and the stacks
come from `stacks.py`.  Exit codes (`exit_codes.py`):
0 clean, 2 drift or changes, 3 a GPU container would be replaced or destroyed (--plan
without --allow-replace), 1 error.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from ..pve import synthesized
from . import plan, state_lock
from .exit_codes import EXIT_ERROR
from .plan import Mode, StackReport
from .stacks import Runner, StacksError, SynthWhen, ready_stacks, run_subprocess, tool_env


class DriftError(StacksError):
    """A failure that stops the whole check; str() is one line naming the cause."""


@dataclass(frozen=True)
class DriftOptions:
    """What to check and how; `cli.drift_options` builds it from the command line."""

    project_dir: Path
    outdir: Path
    stacks: tuple[str, ...] = ()
    mode: Mode = "drift"
    allow_replace: bool = False
    synth: SynthWhen = "auto"
    json_path: Path | None = None
    plan_dir: Path | None = None
    terraform: str | None = None  # --terraform; None: $TERRAFORM_BINARY_NAME, terraform, tofu
    lock_timeout: str | None = None
    live: bool = False  # --live: then `pve-gpu-lxc check` on the same stacks (pve_gpu_lxc.check)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


# --------------------------------------------------------------------------
# subprocess plumbing


def first_error_line(stderr: str, stdout: str = "") -> str:
    """The line that names the cause: Terraform's first `Error:` line, else the last line."""
    text = f"{stderr}\n{stdout}"
    lines = [state_lock.unframed(ln) for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    for ln in lines:
        if ln.startswith("Error:"):
            return ln[len("Error:"):].strip() or ln
    return lines[-1] if lines else "no output"


def _backends(stack_json: Mapping[str, Any]) -> Any:
    """The stack's `terraform.backend` block (backend type -> its settings); {} when it has none (local)."""
    return (stack_json.get("terraform") or {}).get("backend") or {}


def backend_problem(stack_json: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """A missing setting Terraform would only report after a slow init, or None."""
    pg = _backends(stack_json).get("pg")
    if pg is not None and not pg.get("conn_str") and not env.get("PG_CONN_STR"):
        return (
            "the pg backend needs PG_CONN_STR in the environment "
            "(e.g. postgres://user@host/db; it is never written into cdk.tf.json)"
        )
    return None


# --------------------------------------------------------------------------
# one stack


def check_stack(
    stack: str, options: DriftOptions, run: Runner, env: Mapping[str, str]
) -> StackReport:
    """init + plan + show for one stack; errors become a StackReport with `error` set."""
    started = time.monotonic()
    try:
        report = _check_stack(stack, options, run, env)
    except DriftError as err:
        report = StackReport(stack=stack, mode=options.mode, error=str(err))
    return replace(report, seconds=time.monotonic() - started)


def _check_stack(
    stack: str, options: DriftOptions, run: Runner, env: Mapping[str, str]
) -> StackReport:
    workdir = options.outdir / "stacks" / stack
    try:
        stack_json = synthesized.load(workdir / "cdk.tf.json")
    except (OSError, ValueError) as err:
        raise DriftError(f"cannot read {workdir / 'cdk.tf.json'}: {err}") from err
    problem = backend_problem(stack_json, env)
    if problem:
        raise DriftError(problem)

    tf = options.terraform
    assert tf is not None, "run_drift resolves the binary first"
    initialised = is_initialised(workdir)
    if not initialised:
        _init(tf, workdir, run, env)

    plan_file = _plan_file(stack, options)
    plan_cmd = [tf, "plan", "-input=false", "-no-color", "-detailed-exitcode", f"-out={plan_file}"]
    if options.mode == "drift":
        plan_cmd.append("-refresh-only")
    if options.lock_timeout:
        plan_cmd.append(f"-lock-timeout={options.lock_timeout}")
    proc = run(plan_cmd, workdir, env)
    if proc.returncode not in (0, 2) and initialised and _needs_init(proc.stderr + proc.stdout):
        # the init skipped above was needed after all (e.g. a provider upgraded by hand)
        _init(tf, workdir, run, env)
        proc = run(plan_cmd, workdir, env)
    if proc.returncode not in (0, 2):
        guard = plan.precondition_messages(proc.stderr) or plan.precondition_messages(proc.stdout)
        if guard:  # the vm_id guard stopped the plan: its message names the other container and the fix
            raise DriftError(f"terraform plan failed: Resource precondition failed: {' | '.join(guard)}")
        backend = next(iter(_backends(stack_json)), "local")
        cause = state_lock.describe(proc.stderr + proc.stdout, backend, workdir)
        raise DriftError(f"terraform plan failed: {cause or first_error_line(proc.stderr, proc.stdout)}")
    saw_changes = proc.returncode == 2

    show = run([tf, "show", "-json", "-no-color", str(plan_file)], workdir, env)
    if show.returncode != 0:
        raise DriftError(f"terraform show failed: {first_error_line(show.stderr, show.stdout)}")
    try:
        plan_json = json.loads(show.stdout)
    except ValueError as err:
        raise DriftError(f"terraform show printed no JSON: {err}") from err
    report = plan.summarise_plan(
        stack, plan_json, options.mode, terraform_saw_changes=saw_changes
    )
    return replace(report, plan_file=str(plan_file))


def is_initialised(workdir: Path) -> bool:
    """`terraform init` already ran for this synthesis: its backend record and lock file are
    newer than cdk.tf.json.  Skipping init then saves ~0.2 s per stack (Terraform re-hashes
    the 40 MB provider on every init); a re-synthesis always gets a fresh init."""
    try:
        synthesized = (workdir / "cdk.tf.json").stat().st_mtime
        return all((workdir / name).stat().st_mtime >= synthesized
                   for name in (".terraform/terraform.tfstate", ".terraform.lock.hcl"))
    except OSError:
        return False


# What Terraform and OpenTofu say when a working directory must be initialised (again).
_INIT_NEEDED = ("terraform init", "tofu init", "Backend initialization required", "Inconsistent dependency lock file",
                "Required plugins are not installed", "Module not installed")


def _needs_init(output: str) -> bool:
    return any(marker in output for marker in _INIT_NEEDED)


def _init(tf: str, workdir: Path, run: Runner, env: Mapping[str, str]) -> None:
    proc = run([tf, "init", "-input=false", "-no-color"], workdir, env)
    if proc.returncode != 0:
        cause = first_error_line(proc.stderr, proc.stdout)
        raise DriftError(f"terraform init failed: {cause}{_init_hint(cause, workdir)}")


def _init_hint(cause: str, workdir: Path) -> str:
    if cause.startswith("Backend configuration changed"):
        # switching PVE_GPU_LXC_BACKEND: Terraform will not move state on its own
        return (f" (move the state once with `terraform -chdir={workdir} init -migrate-state`, "
                "see docs/drift-and-gitops.md)")
    return ""


def _plan_file(stack: str, options: DriftOptions) -> Path:
    if options.plan_dir is not None:
        options.plan_dir.mkdir(parents=True, exist_ok=True)
        return (options.plan_dir / f"{stack}.tfplan").resolve()
    suffix = "drift" if options.mode == "drift" else "plan"
    return (options.outdir / "stacks" / stack / f"{suffix}.tfplan").resolve()


# --------------------------------------------------------------------------
# the command


# The variable cdktf-cli reads for the same purpose: a name on PATH or a path.
BINARY_ENV = "TERRAFORM_BINARY_NAME"
# Tried in this order when neither --terraform nor TERRAFORM_BINARY_NAME says which.
AUTO_DETECT = ("terraform", "tofu")
# Moves between resource types (the `moved` block from the deprecated download-file name).
MIN_VERSIONS = "Terraform >= 1.8 or OpenTofu >= 1.10"

Which = Callable[[str, str], "str | None"]


def _which(name: str, path: str) -> str | None:
    return shutil.which(name, path=path)


def find_terraform(flag: str | None, environ: Mapping[str, str], which: Which = _which) -> str:
    """The Terraform or OpenTofu binary to run, as a path.

    `--terraform` if given, else $TERRAFORM_BINARY_NAME, else `terraform` on PATH, else `tofu`
    on PATH.  A name is looked up on the environment's PATH; a path (with a `/`) must be an
    executable file.  `which(name, path)` is `shutil.which` (a parameter for tests).
    """
    path = environ.get("PATH", os.defpath)
    if flag:
        found = which(flag, path)
        if found is None:
            raise DriftError(f"--terraform {flag}: {_not_found(flag)}")
        return found
    named = environ.get(BINARY_ENV, "").strip()
    if named:
        found = which(named, path)
        if found is None:
            raise DriftError(f"{BINARY_ENV}={named}: {_not_found(named)}")
        return found
    for name in AUTO_DETECT:
        found = which(name, path)
        if found is not None:
            return found
    raise DriftError(
        f"neither terraform nor tofu is on PATH: install {MIN_VERSIONS}, "
        f"set {BINARY_ENV} to its name or path, or pass --terraform PATH"
    )


def _not_found(name: str) -> str:
    if os.sep in name:
        return "not an executable file"
    return "not found on PATH (give a path, or a name on PATH)"


def run_drift(
    options: DriftOptions,
    *,
    run: Runner = run_subprocess,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """The whole command; returns the exit code.  Prints the report to `out`, progress to `err`."""
    out = out or sys.stdout  # looked up now, so redirected streams are honoured
    err = err or sys.stderr
    env = tool_env(options.environ)
    try:
        options = replace(options, terraform=find_terraform(options.terraform, env))
        skip = [p for p in (options.json_path, options.plan_dir) if p is not None]
        stacks = ready_stacks(options.project_dir, options.outdir, synth=options.synth, wanted=options.stacks,
                              run=run, env=env, progress=err if len(options.stacks) != 1 else None, skip=skip)
    except StacksError as exc:
        print(f"pve-gpu-lxc drift: error: {exc}", file=err)
        _write_json(options, [], error=str(exc), err=err)
        return EXIT_ERROR

    reports: list[StackReport] = []
    for i, stack in enumerate(stacks, 1):
        if len(stacks) > 1:
            print(f"[{i}/{len(stacks)}] {stack} ...", file=err, flush=True)
        report = check_stack(stack, options, run, env)
        reports.append(report)
        print(plan.format_stack(report), file=out, flush=True)
        if report.error is not None:
            print(f"pve-gpu-lxc drift: error: {stack}: {report.error}", file=err)

    print(plan.format_footer(reports, allow_replace=options.allow_replace), file=out)
    if not _write_json(options, reports, err=err):
        return EXIT_ERROR
    code = plan.overall_exit_code(reports, allow_replace=options.allow_replace)
    if options.live:
        from .check.runner import after_drift  # the live check (API, SSH) loads only with --live

        return after_drift(options.project_dir, options.outdir, options.environ, options.json_path, stacks, code,
                           out=out, err=err)
    return code


def _write_json(
    options: DriftOptions,
    reports: Sequence[StackReport],
    *,
    error: str | None = None,
    err: TextIO,
) -> bool:
    """Write the --json report if asked; False when it could not be written."""
    if options.json_path is None:
        return True
    doc = plan.report_document(reports, options.mode, allow_replace=options.allow_replace)
    if error is not None:
        doc["exit_code"] = EXIT_ERROR
        doc["error"] = error
    try:
        options.json_path.parent.mkdir(parents=True, exist_ok=True)
        options.json_path.write_text(json.dumps(doc, indent=2) + "\n")
    except OSError as exc:
        print(f"pve-gpu-lxc drift: error: cannot write {options.json_path}: {exc}", file=err)
        return False
    return True

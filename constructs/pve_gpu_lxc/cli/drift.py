"""The `drift` command: synthesize, then `terraform plan` every stack and summarise it.

`cdktf diff` exits 0 whether or not anything drifted, so a pipeline cannot
fail on it.  This runs Terraform (or OpenTofu: `find_terraform`) itself in
`cdktf.out/stacks/<stack>`:

    terraform init -input=false              (keeps the stack's backend)
    terraform plan -refresh-only -detailed-exitcode -out=<file>   (drift)
    terraform plan -detailed-exitcode -out=<file>                 (--plan)
    terraform show -json <file>

and hands the JSON to the plan report (`cli/plan/`, pure).  Synthesis runs the `app`
command of the project's cdktf.json, as `cdktf synth` does.  Exit codes (`exit_codes.py`):
0 clean, 2 drift or changes, 3 a GPU container would be replaced or destroyed (--plan
without --allow-replace), 1 error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TextIO

from . import plan, state_lock
from .exit_codes import EXIT_ERROR
from .plan import Mode, StackReport

Runner = Callable[[Sequence[str], Path, Mapping[str, str]], "subprocess.CompletedProcess[str]"]

# Files whose change means cdktf.out is stale: the app's sources and data, wherever they are.
SOURCE_SUFFIXES = (".py", ".json")
# Folders that are never the app's sources: tool state, dependencies, caches.
_SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "cdktf.out"})
CDKTF_JSON = "cdktf.json"

SynthWhen = Literal["auto", "always", "never"]  # auto: when cdktf.out is stale


class DriftError(Exception):
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


def run_subprocess(
    cmd: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; never raises on a non-zero exit."""
    return subprocess.run(
        list(cmd), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )


def first_error_line(stderr: str, stdout: str = "") -> str:
    """The line that names the cause: Terraform's first `Error:` line, else the last line."""
    text = f"{stderr}\n{stdout}"
    lines = [ln.strip().lstrip("│╷╵ ").strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    for ln in lines:
        if ln.startswith("Error:"):
            return ln[len("Error:"):].strip() or ln
    return lines[-1] if lines else "no output"


# --------------------------------------------------------------------------
# synthesis


def _source_files(project_dir: Path, skip: Sequence[Path]) -> Iterator[Path]:
    """Every .py and .json file of the project, outside hidden folders, virtualenvs and `skip`."""
    skipped = {p.resolve() for p in skip}
    for root, dirs, files in os.walk(project_dir):
        here = Path(root)
        dirs[:] = [
            d for d in dirs
            if not d.startswith(".") and d not in _SKIPPED_DIRS and (here / d).resolve() not in skipped
            and not (here / d / "pyvenv.cfg").is_file()
        ]
        for name in files:
            if name.endswith(SOURCE_SUFFIXES) and (here / name).resolve() not in skipped:
                yield here / name


def newest_source_mtime(project_dir: Path, skip: Sequence[Path] = ()) -> float:
    """The newest modification time of the files the app is built from (cdktf.json included)."""
    newest = 0.0
    for path in _source_files(project_dir, skip):
        try:
            newest = max(newest, path.stat().st_mtime)
        except OSError:  # removed while walking
            continue
    return newest


def needs_synth(project_dir: Path, outdir: Path, skip: Sequence[Path] = ()) -> bool:
    """True when cdktf.out is missing or older than any source file of the project.

    The sources are every .py and .json file under the project directory (so wherever the
    app keeps its stacks), except the output directory itself, hidden folders (.venv, .git,
    .terraform), node_modules and virtualenvs, and the paths in `skip` (e.g. a --json report).
    """
    manifest = outdir / "manifest.json"
    if not manifest.is_file():
        return True
    return newest_source_mtime(project_dir, [outdir, *skip]) > manifest.stat().st_mtime


def app_command(project_dir: Path) -> tuple[list[str], str]:
    """How to run the app: the `app` of cdktf.json through the shell, as `cdktf synth` does.

    A project without cdktf.json runs `python main.py` with this interpreter (cdktf's Python
    default).  Returns the command and how it reads in messages.
    """
    config = project_dir / CDKTF_JSON
    if not config.is_file():
        if not (project_dir / "main.py").is_file():
            raise DriftError(
                f"cannot synthesize: no {CDKTF_JSON} (or main.py) in {project_dir} "
                "(run from the project directory, pass --project-dir, or --no-synth)"
            )
        return [sys.executable, "main.py"], "python main.py"
    try:
        app = json.loads(config.read_text()).get("app")
    except (OSError, ValueError, AttributeError) as err:
        raise DriftError(f"cannot read {config}: {err}") from err
    if not isinstance(app, str) or not app.strip():
        raise DriftError(f'{config} has no "app" command (e.g. "app": "python main.py"); cdktf needs it too')
    return ["/bin/sh", "-c", app], app


def synthesize(options: DriftOptions, run: Runner, env: Mapping[str, str]) -> None:
    """The app command of cdktf.json with CDKTF_OUTDIR=<outdir>, in the project directory."""
    command, _ = app_command(options.project_dir)
    synth_env = {**env, "CDKTF_OUTDIR": str(options.outdir)}
    proc = run(command, options.project_dir, synth_env)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        cause = lines[-1] if lines else f"exit code {proc.returncode}"
        raise DriftError(f"synth failed: {cause}")


# --------------------------------------------------------------------------
# stacks


def synthesized_stacks(outdir: Path) -> list[str]:
    """Stack names from cdktf.out/manifest.json (or the stacks/ folder when it has none)."""
    manifest = outdir / "manifest.json"
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text())
            names = sorted((data.get("stacks") or {}).keys())
        except (OSError, ValueError) as err:
            raise DriftError(f"cannot read {manifest}: {err}") from err
        if names:
            return names
    stacks_dir = outdir / "stacks"
    if stacks_dir.is_dir():
        return sorted(p.name for p in stacks_dir.iterdir() if (p / "cdk.tf.json").is_file())
    return []


def select_stacks(available: Sequence[str], wanted: Sequence[str], outdir: Path) -> list[str]:
    if not available:
        raise DriftError(f"no synthesized stacks in {outdir} (run `make synth` or drop --no-synth)")
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise DriftError(
            f"unknown stack {unknown[0]!r}: synthesized stacks are {', '.join(available)}"
        )
    return [s for s in available if not wanted or s in wanted]


def backend_problem(stack_json: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """A missing setting Terraform would only report after a slow init, or None."""
    backends = (stack_json.get("terraform") or {}).get("backend") or {}
    pg = backends.get("pg")
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
        stack_json = json.loads((workdir / "cdk.tf.json").read_text())
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
        backend = next(iter((stack_json.get("terraform") or {}).get("backend") or {"local": {}}), None)
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


def terraform_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment (TF_CLI_CONFIG_FILE, PG_CONN_STR, PROXMOX_VE_* ...) passed through."""
    env = dict(environ)
    env.setdefault("TF_IN_AUTOMATION", "1")  # shorter output, no "run terraform apply" hints
    env.setdefault("CHECKPOINT_DISABLE", "1")
    return env


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
    env = terraform_env(options.environ)
    try:
        options = replace(options, terraform=find_terraform(options.terraform, env))
        skip = [p for p in (options.json_path, options.plan_dir) if p is not None]
        if options.synth == "always" or (
            options.synth == "auto" and needs_synth(options.project_dir, options.outdir, skip)
        ):
            if len(options.stacks) != 1:
                print("synthesizing ...", file=err)
            synthesize(options, run, env)
        stacks = select_stacks(synthesized_stacks(options.outdir), options.stacks, options.outdir)
    except DriftError as exc:
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
        from .check.runner import after_drift  # imported here: check reads stacks through this module

        return after_drift(options, stacks, code, out=out, err=err)
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

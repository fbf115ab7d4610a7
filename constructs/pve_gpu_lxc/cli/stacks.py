"""The synthesized app: when to synthesize, how (the `app` of cdktf.json, as `cdktf synth`
does), and which stacks it made.  Every command that reads cdktf.out (drift, check,
explain) gets its stacks from `ready_stacks`, so they agree on staleness and on names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal, TextIO

Runner = Callable[[Sequence[str], Path, Mapping[str, str]], "subprocess.CompletedProcess[str]"]

# Files whose change means cdktf.out is stale: the app's sources and data, wherever they are.
SOURCE_SUFFIXES = (".py", ".json")
# Folders that are never the app's sources: tool state, dependencies, caches.
_SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "cdktf.out"})
CDKTF_JSON = "cdktf.json"

SynthWhen = Literal["auto", "always", "never"]  # auto: when cdktf.out is stale


class StacksError(Exception):
    """Synthesis failed or the stacks asked for are not there; str() is one line naming the cause."""


def run_subprocess(
    cmd: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; never raises on a non-zero exit."""
    return subprocess.run(
        list(cmd), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )


def tool_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment terraform and the app run in: the caller's (TF_CLI_CONFIG_FILE,
    PG_CONN_STR, PROXMOX_VE_* ...), without Terraform's hints and update checks."""
    env = dict(environ)
    env.setdefault("TF_IN_AUTOMATION", "1")  # shorter output, no "run terraform apply" hints
    env.setdefault("CHECKPOINT_DISABLE", "1")
    return env


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
            raise StacksError(
                f"cannot synthesize: no {CDKTF_JSON} (or main.py) in {project_dir} "
                "(run from the project directory, pass --project-dir, or --no-synth)"
            )
        return [sys.executable, "main.py"], "python main.py"
    try:
        app = json.loads(config.read_text()).get("app")
    except (OSError, ValueError, AttributeError) as err:
        raise StacksError(f"cannot read {config}: {err}") from err
    if not isinstance(app, str) or not app.strip():
        raise StacksError(f'{config} has no "app" command (e.g. "app": "python main.py"); cdktf needs it too')
    return ["/bin/sh", "-c", app], app


def synthesize(project_dir: Path, outdir: Path, run: Runner, env: Mapping[str, str]) -> None:
    """The app command of cdktf.json with CDKTF_OUTDIR=<outdir>, in the project directory."""
    command, _ = app_command(project_dir)
    synth_env = {**env, "CDKTF_OUTDIR": str(outdir)}
    proc = run(command, project_dir, synth_env)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        cause = lines[-1] if lines else f"exit code {proc.returncode}"
        raise StacksError(f"synth failed: {cause}")


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
            raise StacksError(f"cannot read {manifest}: {err}") from err
        if names:
            return names
    stacks_dir = outdir / "stacks"
    if stacks_dir.is_dir():
        return sorted(p.name for p in stacks_dir.iterdir() if (p / "cdk.tf.json").is_file())
    return []


def select_stacks(available: Sequence[str], wanted: Sequence[str], outdir: Path) -> list[str]:
    if not available:
        raise StacksError(f"no synthesized stacks in {outdir} (run `make synth` or drop --no-synth)")
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise StacksError(
            f"unknown stack {unknown[0]!r}: synthesized stacks are {', '.join(available)}"
        )
    return [s for s in available if not wanted or s in wanted]


def ready_stacks(project_dir: Path, outdir: Path, *, synth: SynthWhen, wanted: Sequence[str], run: Runner,
                 env: Mapping[str, str], progress: TextIO | None, skip: Sequence[Path] = ()) -> list[str]:
    """Synthesize when `synth` says so (auto: when cdktf.out is stale; `skip` are outputs of the
    command itself, not sources), then the stacks `wanted` (all when empty), in manifest order.
    "synthesizing ..." goes to `progress` when given."""
    if synth == "always" or (synth == "auto" and needs_synth(project_dir, outdir, skip)):
        if progress is not None:
            print("synthesizing ...", file=progress)
        synthesize(project_dir, outdir, run, env)
    return select_stacks(synthesized_stacks(outdir), wanted, outdir)

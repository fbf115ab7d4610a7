"""How long a full `pve-gpu-lxc drift` of the example stacks takes against the stand-in provider.

    .venv/bin/python benchmarks/drift_check.py [--repeat 3]

Deploys both example stacks to a simulated node in a temp dir, then times the
drift command (synthesis, and per stack terraform init / plan -refresh-only /
show -json) in both ways of loading the stand-in:

  mirror    Terraform starts the provider itself (as with the real bpg binary)
  reattach  one long-lived provider process (TF_REATTACH_PROVIDERS)

Prints a table (median of --repeat runs, seconds).  Not a test: numbers depend
on the machine.  The real provider talks to a PVE API over the network, so
expect the plan column to grow with the node's latency.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "constructs"))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # before cdktf loads

from pve_gpu_lxc.cli import drift  # noqa: E402
from pve_gpu_lxc_testing.pg.scratch_app import write_scratch_project  # noqa: E402
from pve_gpu_lxc_testing.standin.harness import TERRAFORM, standin_env  # noqa: E402

TEMPLATES = ("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst",
             "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
STACKS = ("intel-jellyfin", "nvidia-ollama")


class TimingRunner:
    """Wraps drift.run_subprocess and records the wall time of every command."""

    def __init__(self) -> None:
        self.times: dict[str, float] = defaultdict(float)

    def __call__(self, cmd: Sequence[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess:
        started = time.perf_counter()
        try:
            return drift.run_subprocess(cmd, cwd, env)
        finally:
            key = "synth" if cmd[-1] == "main.py" else f"{Path(cwd).name}:{cmd[1]}"
            self.times[key] += time.perf_counter() - started


def one_check(options: drift.DriftOptions) -> tuple[int, dict[str, float]]:
    runner = TimingRunner()
    started = time.perf_counter()
    code = drift.run_drift(options, run=runner, out=io.StringIO(), err=io.StringIO())
    runner.times["total"] = time.perf_counter() - started
    return code, dict(runner.times)


def bench_mode(reattach: bool, repeat: int, base: Path) -> dict[str, float]:
    env_obj = standin_env(base, reattach=reattach)
    try:
        for volid in TEMPLATES:
            env_obj.seed_volume(volid, b"template")
        project = write_scratch_project(base / "project")
        environ = {**os.environ, **env_obj.env, "PVE_GPU_LXC_STATE_DIR": str(base / "state")}
        environ.pop("PVE_GPU_LXC_BACKEND", None)
        opts = drift.DriftOptions(project_dir=project, outdir=project / "cdktf.out", synth="always",
                                  environ=environ)
        code, _ = one_check(opts)  # first synth + init
        if code != 0:
            raise SystemExit(f"unexpected drift exit {code} before deploying")
        for stack in STACKS:
            env_obj.run([TERRAFORM, "apply", "-auto-approve", "-input=false", "-no-color"],
                        project / "cdktf.out" / "stacks" / stack)
        samples: dict[str, list[float]] = defaultdict(list)
        for _ in range(repeat):
            code, times = one_check(opts)
            if code != 0:
                raise SystemExit(f"drift exit {code} on a freshly deployed node")
            for key, value in times.items():
                samples[key].append(value)
        # a no-synth check: what a pipeline pays when cdktf.out is current
        nosynth = drift.DriftOptions(**{**opts.__dict__, "synth": "never"})
        for _ in range(repeat):
            samples["total (--no-synth)"].append(one_check(nosynth)[1]["total"])
        return {key: statistics.median(values) for key, values in samples.items()}
    finally:
        env_obj.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, reattach in (("mirror", False), ("reattach", True)):
            results[mode] = bench_mode(reattach, args.repeat, Path(tmp) / mode)
    rows = ["synth"] + [f"{s}:{verb}" for s in STACKS for verb in ("init", "plan", "show")]
    rows += ["total", "total (--no-synth)"]
    print(f"drift check of {len(STACKS)} example stacks, median of {args.repeat} runs (seconds)")
    print(f"{'step':<26}{'mirror':>10}{'reattach':>10}")
    for row in rows:
        print(f"{row:<26}" + "".join(f"{results[m].get(row, float('nan')):>10.2f}" for m in results))


if __name__ == "__main__":
    main()

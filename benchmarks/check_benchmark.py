#!/usr/bin/env python
"""Cost of `pve-gpu-lxc check` for N GPU containers on the simulated Proxmox VE node.

    .venv/bin/python benchmarks/check_benchmark.py                      # N = 1, 10, 50
    .venv/bin/python benchmarks/check_benchmark.py --sizes 1 --repeat 1 --json /tmp/check.json

For each N: a fresh simulated node, one stack of N GpuContainers (sim_benchmark's workload:
Intel and NVIDIA in turn, every fourth with the jellyfin idmap, every NVIDIA one with its
hookscript snippet), applied by the real terraform + bpg/proxmox provider; then
`pve-gpu-lxc check --no-synth` as a subprocess (the whole command: Python start, API, SSH,
compare), --repeat times.  With --node-proc the node root gets a proc/ directory, so its SSH
sessions have a read-only /proc as a real node does (the probe then finds running containers
from LXC's monitor sockets instead of one lxc-info per container).  Counted on the node's side: the API requests it served (its
requests.log) and the SSH logins sshd accepted (its log), per run.  The node is checked to be
unchanged by every run (SimEnv.node_fingerprint).  Writes only to temp directories.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "constructs"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CHECKPOINT_DISABLE", "1")
os.environ.setdefault("CDKTF_DISABLE_PLUGIN_CACHE_ENV", "1")

from benchmarks.sim_benchmark import STACK, mix, seed_templates, synth_stack, tf, workload  # noqa: E402
from pve_gpu_lxc_testing.e2e.harness import FACTS, sim_env  # noqa: E402

SIZES = (1, 10, 50)
PYTHON = ROOT / ".venv" / "bin" / "python"


@dataclass
class Run:
    wall_s: float  # the whole command, as a subprocess
    api_requests: int  # served by the node
    ssh_logins: int  # accepted by the node's sshd
    exit_code: int
    reported: dict  # the command's own cost block (api_requests, ssh_sessions, api_seconds, ...)


@dataclass
class SizeResult:
    n: int
    mix: dict[str, int]
    apply_s: float
    runs: list[Run] = field(default_factory=list)

    @property
    def best(self) -> Run:
        return min(self.runs, key=lambda r: r.wall_s)


def check_once(env, out: Path, report: Path) -> Run:
    sim = env.sim
    requests, logins = len(sim.requests()), sim.ssh_logins()
    before = env.node_fingerprint()
    run_env = {**os.environ, **env.env}
    run_env.pop("SSH_AUTH_SOCK", None)
    started = time.perf_counter()
    proc = subprocess.run([str(PYTHON), "-m", "pve_gpu_lxc", "check", "--no-synth", "--outdir", str(out),
                           "--facts", f"pve={FACTS}", "--json", str(report)],
                          env=run_env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    if env.node_fingerprint() != before:
        raise RuntimeError("the check changed the node")
    if proc.returncode != 0:
        raise RuntimeError(f"check exited {proc.returncode} on a clean node:\n{proc.stdout}\n{proc.stderr}")
    return Run(wall, len(sim.requests()) - requests, sim.ssh_logins() - logins, proc.returncode,
               json.loads(report.read_text())["cost"])


def run_size(n: int, base: Path, *, repeat: int, node_proc: bool = False, log=print) -> SizeResult:
    specs = workload(n)
    env = sim_env(base / "sim")
    try:
        seed_templates(env)
        if node_proc:
            (env.node_root / "proc").mkdir()
        out = base / "out"
        stack_dir = synth_stack(env, out, specs)
        tf(env, stack_dir, "init", "-input=false", "-no-color")
        started = time.perf_counter()
        tf(env, stack_dir, "apply", "-auto-approve", "-input=false", "-no-color")
        result = SizeResult(n, mix(specs), time.perf_counter() - started)
        log(f"N={n}: applied in {result.apply_s:.1f}s; check x{repeat} ...")
        for i in range(repeat):
            result.runs.append(check_once(env, out, base / f"check-{i}.json"))
        best = result.best
        log(f"N={n}: check {best.wall_s:.2f}s, {best.api_requests} API requests, {best.ssh_logins} SSH logins")
        tf(env, stack_dir, "destroy", "-auto-approve", "-input=false", "-no-color")
        return result
    finally:
        env.close()


def markdown_table(rows: Sequence[SizeResult]) -> str:
    lines = ["| N containers | API requests (login + node listing + config reads) | per container | SSH sessions | "
             "check s (whole command) | of which API s | of which SSH s |",
             "|" + "---:|" * 7]
    for r in rows:
        b = r.best
        listings = b.reported.get("api_listings", 0)
        reads = b.api_requests - b.reported["api_logins"] - listings
        lines.append(f"| {r.n} | {b.api_requests} ({b.reported['api_logins']} + {listings} + {reads}) | "
                     f"{reads / r.n:.2f} | {b.ssh_logins} | "
                     f"{b.wall_s:.2f} | {b.reported['api_seconds']:.2f} | {b.reported['ssh_seconds']:.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeat", type=int, default=3, help="check runs per size (best is reported)")
    parser.add_argument("--json", type=Path, help="also write the raw results")
    parser.add_argument("--node-proc", action="store_true", help="a read-only /proc in the node's SSH sessions")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="pve-gpu-lxc-check-bench-") as tmp:
        for n in args.sizes:
            rows.append(run_size(n, Path(tmp) / f"n{n}", repeat=args.repeat, node_proc=args.node_proc,
                                 log=lambda m: print(m, file=sys.stderr)))
    print(markdown_table(rows))
    print(f"\n{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPU(s), "
          f"{platform.platform()}; best of {args.repeat}; node /proc: {'yes' if args.node_proc else 'no'}; "
          f"1-min load average before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f}")
    for r in rows:  # the claims the table makes, checked
        for run in r.runs:
            assert run.api_requests <= r.n + 2 and run.ssh_logins == 1, run  # login, node listing, config reads
            assert run.reported["api_requests"] == run.api_requests, run
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "best_wall_s": r.best.wall_s} for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Deploy, refresh and destroy cost of N GPU containers on the simulated Proxmox VE node.

    .venv/bin/python benchmarks/sim_benchmark.py                          # N = 1, 10, 50
    .venv/bin/python benchmarks/sim_benchmark.py --sizes 1 --repeat 1 --json /tmp/sim.json

For each N: a fresh simulated node (pve_gpu_lxc_testing.pvesim: HTTPS API + real sshd over
files, in temp dirs), one stack of N GpuContainers synthesized in-process, then the real
terraform + bpg/proxmox provider (.tools/) run

    terraform init                         (timed once, not in the table)
    terraform apply -auto-approve          deploy
    terraform plan -refresh-only           the API requests the node served during this refresh
                                           are counted and grouped by path pattern
    pve-gpu-lxc drift --no-synth           against a bare `plan -refresh-only -out` + `show -json`
                                           (what the drift command does at minimum), best of
                                           --repeat each, interleaved
    terraform destroy -auto-approve

and, because whole runs on a loaded machine vary by a second or more, the drift command's
extra work over the bare plan + show is also timed part by part (best of 5 each: CLI
start-up, `terraform init`, reading the plan JSON and writing the report), which gives the
ratio a quiet machine would show.  API requests come from the node's request log, SSH logins
from its sshd log, and the node's timestamped log places the requests within each command.

Terraform's default -parallelism=10 applies everywhere.  Prints markdown tables; the
numbers depend on the machine (see docs/benchmarks.md, "Deploy, refresh and destroy on the
simulated node").  Writes only to temp directories (or --keep DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "constructs"):  # run as a script: `benchmarks` and the library importable
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # before cdktf loads
os.environ.setdefault("CHECKPOINT_DISABLE", "1")
os.environ.setdefault("CDKTF_DISABLE_PLUGIN_CACHE_ENV", "1")

from pve_gpu_lxc.cli import plan as plan_report  # noqa: E402
from pve_gpu_lxc_testing.e2e.harness import Drift, SimEnv, sim_env  # noqa: E402

SIZES = (1, 10, 50)
STACK = "bench"
FIRST_VM_ID = 1000
NVIDIA_DRIVER = "575.64.03"
DEBIAN_TEMPLATE = "local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst"
UBUNTU_TEMPLATE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
IDMAP_GIDS = {44: 44, 106: 108}  # the intel-jellyfin example's map (video 44 -> 44, render 106 -> 108)
TARGET_DRIFT_RATIO = 1.10
TF_PARALLELISM = 10  # terraform's default; not changed here


# --- the workload ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    index: int
    vm_id: int
    gpu: str  # "intel" | "nvidia"
    idmap: bool


def workload(n: int) -> list[Spec]:
    """The example stacks' mix in turn: Intel (debian, every other one with the jellyfin idmap),
    then NVIDIA (ubuntu, pre-start hookscript snippet, its own 64 GiB disk)."""
    if n < 1:
        raise ValueError(f"need at least one container, got {n}")
    specs = []
    for i in range(n):
        gpu = "intel" if i % 2 == 0 else "nvidia"
        specs.append(Spec(i, FIRST_VM_ID + i, gpu, idmap=gpu == "intel" and i % 4 == 0))
    return specs


def mix(specs: Sequence[Spec]) -> dict[str, int]:
    return {"intel": sum(s.gpu == "intel" for s in specs),
            "intel_idmap": sum(s.idmap for s in specs),
            "nvidia_hookscript": sum(s.gpu == "nvidia" for s in specs)}


def synth_stack(env: SimEnv, out: Path, specs: Sequence[Spec]) -> Path:
    """One stack of the given containers for the simulated node; returns the stack directory."""
    from pve_gpu_lxc.engine import App, LocalBackend, TerraformStack

    from pve_gpu_lxc import Disk, GpuContainer, IdMap, IntelGpu, Network, NvidiaGpu, ProxmoxProvider, Template

    app = App(outdir=str(out))
    stack = TerraformStack(app, STACK)
    LocalBackend(stack, path=str(out.parent / f"{out.name}.tfstate"))  # never the repo's state
    ProxmoxProvider(stack, "proxmox", environ=env.env)  # SSH address from PVE_GPU_LXC_SSH_NODES
    for s in specs:
        common: dict[str, Any] = dict(node_name="pve", vm_id=s.vm_id, hostname=f"ct{s.vm_id}",
                                      network=Network(bridge="vmbr0", ipv4="dhcp"),
                                      description=f"sim benchmark container {s.index}")
        if s.gpu == "intel":
            GpuContainer(stack, f"ct{s.vm_id}", **common, template=Template.existing(DEBIAN_TEMPLATE),
                         gpus=[IntelGpu(card=0, render=128)], cores=4, memory_mib=4096,
                         idmap=IdMap.passthrough(gids=IDMAP_GIDS) if s.idmap else None,
                         tags=["bench", "gpu", "media"])
        else:
            GpuContainer(stack, f"ct{s.vm_id}", **common, template=Template.existing(UBUNTU_TEMPLATE),
                         gpus=[NvidiaGpu(driver_version=NVIDIA_DRIVER)], cores=8, memory_mib=16384,
                         disk=Disk(datastore_id="local-lvm", size_gib=64), tags=["bench", "gpu", "llm"])
    app.synth()
    return out / "stacks" / STACK


# --- what the node saw ----------------------------------------------------------------------------

_PATTERNS = (
    (re.compile(r"/tasks/UPID:[^/]+"), "/tasks/{upid}"),
    (re.compile(r"/lxc/\d+"), "/lxc/{vmid}"),
    (re.compile(r"/content/.+"), "/content/{volume}"),
    (re.compile(r"^(\S+ )/api2/json"), r"\1"),
)


def path_pattern(line: str) -> str:
    """`GET /api2/json/nodes/pve/lxc/1003/config` -> `GET /nodes/pve/lxc/{vmid}/config`."""
    for pattern, repl in _PATTERNS:
        line = pattern.sub(repl, line)
    return line


def ssh_logins(env: SimEnv) -> int:
    """Accepted SSH logins so far (each bpg SSH command or SFTP upload opens its own connection)."""
    log = Path(env.sim.state_dir) / "ssh" / "sshd.log"
    try:
        return log.read_text(errors="replace").count("Accepted publickey for ")
    except OSError:
        return 0


def ssh_connect_s(env: SimEnv) -> float:
    """One `ssh root@node true` (OpenSSH client, the key exchange bpg's Go client uses): the cost of
    a connection, the chrooted session included.  Best of 3."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(env.sim.ssh.ssh_argv("true"), check=True, capture_output=True, timeout=60,
                       env={**os.environ, **env.env})
        best = min(best, time.perf_counter() - started)
    return best


@dataclass
class Counts:
    requests: int
    by_pattern: dict[str, int]
    ssh_logins: int


class NodeCounter:
    """Requests (and SSH logins) the node served between start() and stop()."""

    def __init__(self, env: SimEnv) -> None:
        self.env = env
        self._req = 0
        self._ssh = 0

    def start(self) -> "NodeCounter":
        self._req = len(self.env.sim.requests())
        self._ssh = ssh_logins(self.env)
        return self

    def stop(self) -> Counts:
        lines = self.env.sim.requests()[self._req:]
        return Counts(len(lines), dict(Counter(path_pattern(l) for l in lines).most_common()),
                      ssh_logins(self.env) - self._ssh)


# --- timing ---------------------------------------------------------------------------------------

def children_cpu() -> float:
    """CPU seconds of every waited-for descendant so far (terraform and the provider it starts)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Timed:
    wall_s: float
    cpu_s: float  # user + system of the child processes (terraform, the provider, the drift CLI)
    start: float = 0.0  # time.time() at start and end, to place the node's log lines
    end: float = 0.0
    node_cpu_s: float = 0.0  # this process: the simulated node's API threads (sshd sessions not included)


class Clock:
    def __enter__(self) -> "Clock":
        self.start, self._t0, self._cpu0 = time.time(), time.perf_counter(), children_cpu()
        self._own0 = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.result = Timed(time.perf_counter() - self._t0, children_cpu() - self._cpu0, self.start, time.time(),
                            time.process_time() - self._own0)


def tf(env: SimEnv, stack_dir: Path, *args: str, ok: Sequence[int] = (0,)) -> subprocess.CompletedProcess[str]:
    return env.run([env.terraform_path, *args], stack_dir, ok=ok, timeout=3600)


@dataclass
class BareSample:
    total: Timed
    plan: Timed
    show: Timed


def bare_refresh(env: SimEnv, stack_dir: Path) -> BareSample:
    """`plan -refresh-only -out` + `show -json`: the least a drift check must run."""
    with Clock() as total:
        with Clock() as plan:
            code = tf(env, stack_dir, "plan", "-refresh-only", "-input=false", "-no-color", "-detailed-exitcode",
                      "-out=bare.tfplan", ok=(0, 2)).returncode
        with Clock() as show:
            shown = tf(env, stack_dir, "show", "-json", "-no-color", "bare.tfplan")
        doc = json.loads(shown.stdout)
    # Terraform exits 2 for bpg's null -> [] / {} refresh; like the drift command, that is no drift
    seen = Drift(code, doc.get("resource_drift", [])).addresses()
    if seen:
        raise RuntimeError(f"the bare refresh-only plan saw drift on a fresh deployment: {seen}")
    return BareSample(total.result, plan.result, show.result)


def drift_cli(env: SimEnv, out_dir: Path) -> Timed:
    """`python -m pve_gpu_lxc drift --no-synth --outdir OUT`, as a pipeline runs it."""
    with Clock() as clock:
        proc = env.run([sys.executable, "-m", "pve_gpu_lxc", "drift", "--no-synth", "--outdir", str(out_dir)],
                       out_dir, ok=(0, 1, 2, 3))
    if proc.returncode != 0:
        raise RuntimeError(f"drift exited {proc.returncode} on a fresh deployment:\n{proc.stdout}\n{proc.stderr}")
    return clock.result


def cli_startup() -> float:
    """`python -m pve_gpu_lxc drift --help`: interpreter + the CLI's imports, no terraform."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pve_gpu_lxc", "drift", "--help"], check=True, capture_output=True)
    return time.perf_counter() - started


@dataclass
class DriftProfile:
    """What the drift command runs beyond a bare plan + show, each part timed alone (best of k):
    short commands find a quiet moment on a loaded machine far more often than a whole run does."""

    cli_startup_s: float  # python -m pve_gpu_lxc drift --help
    init_s: float  # terraform init in the initialized stack directory (drift runs it every time)
    report_s: float  # json.loads of `show -json` + plan_report summary and text, in-process
    show_json_bytes: int

    @property
    def overhead_s(self) -> float:
        return self.cli_startup_s + self.init_s + self.report_s


def profile_drift(env: SimEnv, stack_dir: Path, k: int = 5) -> DriftProfile:
    def best(fn) -> float:
        return min(timed_call(fn) for _ in range(k))

    init_s = best(lambda: tf(env, stack_dir, "init", "-input=false", "-no-color"))
    startup_s = best(cli_startup)
    shown = tf(env, stack_dir, "show", "-json", "-no-color", "bare.tfplan").stdout

    def report() -> None:
        summary = plan_report.summarise_plan(STACK, json.loads(shown), "drift", terraform_saw_changes=True)
        plan_report.format_stack(summary)

    return DriftProfile(startup_s, init_s, best(report), len(shown.encode()))


def timed_call(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


# --- the node's log: when did requests happen within a command ------------------------------------

_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) INFO (GET|POST|PUT|DELETE) ")


def request_times(env: SimEnv) -> list[float]:
    """time.time() of every request in the node's log (pvesim.log, millisecond stamps)."""
    stamps = []
    for line in (Path(env.sim.state_dir) / "pvesim.log").read_text(errors="replace").splitlines():
        match = _LOG_LINE.match(line)
        if match:
            stamps.append(time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")) + int(match.group(2)) / 1000)
    return stamps


@dataclass
class Timeline:
    """Where a command's wall time went, seen from the node."""

    before_first_s: float  # terraform + provider start-up, config parse, login
    api_span_s: float  # first to last request
    after_last_s: float  # state write, provider shutdown, exit
    longest_gap_s: float  # longest stretch with no request inside the span (SSH, waits)


def timeline(env: SimEnv, timed_: Timed) -> Timeline | None:
    inside = [t for t in request_times(env) if timed_.start - 0.002 <= t <= timed_.end + 0.002]
    if not inside:
        return None
    gaps = [b - a for a, b in zip(inside, inside[1:])]
    return Timeline(max(0.0, inside[0] - timed_.start), inside[-1] - inside[0], max(0.0, timed_.end - inside[-1]),
                    max(gaps, default=0.0))


# --- one size -------------------------------------------------------------------------------------

@dataclass
class Phase:
    """One terraform command: its time, what the node served, and when."""

    timed: Timed
    counts: Counts
    timeline: Timeline | None


@dataclass
class SizeResult:
    n: int
    mix: dict[str, int]
    resources: int
    init_s: float
    apply: Phase
    refresh: Phase  # the first `plan -refresh-only` after the apply
    destroy: Phase | None = None
    bare: list[BareSample] = field(default_factory=list)
    drift: list[Timed] = field(default_factory=list)
    profile: DriftProfile | None = None
    ssh_connect_s: float = 0.0

    @property
    def requests_per_container(self) -> float:
        return self.refresh.counts.requests / self.n

    @property
    def best_bare(self) -> BareSample:
        return min(self.bare, key=lambda b: b.total.wall_s)

    @property
    def best_drift(self) -> Timed:
        return min(self.drift, key=lambda d: d.wall_s)

    @property
    def best_plan_s(self) -> float:
        return min(b.plan.wall_s for b in self.bare)

    @property
    def drift_ratio(self) -> float:
        """drift CLI over bare plan + show, best of each."""
        return self.best_drift.wall_s / self.best_bare.total.wall_s

    @property
    def drift_ratio_plan_only(self) -> float:
        """drift CLI over the bare refresh-only plan alone (without show -json), best of each."""
        return self.best_drift.wall_s / self.best_plan_s

    @property
    def drift_ratio_from_parts(self) -> float:
        """(best bare plan + show + the drift command's extra parts, each timed alone) / best bare."""
        assert self.profile is not None
        bare = self.best_bare.total.wall_s
        return (bare + self.profile.overhead_s) / bare

    @property
    def drift_cpu_ratio(self) -> float:
        return min(d.cpu_s for d in self.drift) / min(b.total.cpu_s for b in self.bare)


def seed_templates(env: SimEnv) -> None:
    for volid in (DEBIAN_TEMPLATE, UBUNTU_TEMPLATE):
        env.seed_volume(volid, b"template")


def phase(env: SimEnv, stack_dir: Path, *args: str, ok: Sequence[int] = (0,)) -> tuple[Phase, int]:
    counter = NodeCounter(env).start()
    with Clock() as clock:
        code = tf(env, stack_dir, *args, ok=ok).returncode
    return Phase(clock.result, counter.stop(), timeline(env, clock.result)), code


def run_size(n: int, base: Path, *, repeat: int = 3, log=print) -> SizeResult:
    specs = workload(n)
    env = sim_env(base / "sim")
    try:
        seed_templates(env)
        out = base / "out"
        stack_dir = synth_stack(env, out, specs)
        doc = json.loads((stack_dir / "cdk.tf.json").read_text())
        resources = sum(len(v) for v in doc.get("resource", {}).values())
        with Clock() as init:
            tf(env, stack_dir, "init", "-input=false", "-no-color")
        log(f"N={n}: {resources} resources; init {init.result.wall_s:.1f}s; apply ...")

        apply, _ = phase(env, stack_dir, "apply", "-auto-approve", "-input=false", "-no-color")
        log(f"N={n}: apply {apply.timed.wall_s:.1f}s ({apply.counts.requests} requests); refresh ...")
        # exit 2 is bpg's null -> [] refresh, no drift: bare_refresh below checks it the drift command's way
        refresh, _ = phase(env, stack_dir, "plan", "-refresh-only", "-input=false", "-no-color",
                           "-detailed-exitcode", ok=(0, 2))
        log(f"N={n}: refresh {refresh.timed.wall_s:.1f}s ({refresh.counts.requests} requests); "
            f"drift vs bare x{repeat} ...")

        result = SizeResult(n, mix(specs), resources, init.result.wall_s, apply, refresh)
        for i in range(repeat):  # interleaved, first one then the other first, so load spikes hit both
            if i % 2 == 0:
                result.bare.append(bare_refresh(env, stack_dir))
                result.drift.append(drift_cli(env, out))
            else:
                result.drift.append(drift_cli(env, out))
                result.bare.append(bare_refresh(env, stack_dir))
        result.profile = profile_drift(env, stack_dir)
        result.ssh_connect_s = ssh_connect_s(env)
        log(f"N={n}: bare {result.best_bare.total.wall_s:.2f}s drift {result.best_drift.wall_s:.2f}s "
            f"ratio {result.drift_ratio:.2f}; destroy ...")

        result.destroy, _ = phase(env, stack_dir, "destroy", "-auto-approve", "-input=false", "-no-color")
        left = sorted(p.name for p in env.conf_path(FIRST_VM_ID).parent.glob("*.conf"))
        if left:
            raise RuntimeError(f"destroy left container configs on the node: {left}")
        log(f"N={n}: destroy {result.destroy.timed.wall_s:.1f}s")
        return result
    finally:
        env.close()


# --- output ---------------------------------------------------------------------------------------

def markdown_table(rows: Sequence[SizeResult]) -> str:
    lines = ["| N | resources | apply s | refresh-only plan s | destroy s | requests per refresh | "
             "requests / container / refresh | SSH logins apply / refresh / destroy |",
             "|" + "---:|" * 8]
    for r in rows:
        assert r.destroy is not None
        lines.append(
            f"| {r.n} | {r.resources} | {r.apply.timed.wall_s:.1f} | {r.refresh.timed.wall_s:.1f} | "
            f"{r.destroy.timed.wall_s:.1f} | {r.refresh.counts.requests} | {r.requests_per_container:.2f} | "
            f"{r.apply.counts.ssh_logins} / {r.refresh.counts.ssh_logins} / {r.destroy.counts.ssh_logins} |")
    return "\n".join(lines)


def drift_table(rows: Sequence[SizeResult]) -> str:
    lines = ["| N | bare plan s | bare plan + show s | drift s | drift - (plan + show) s | drift / (plan + show) | "
             "drift / plan | CPU drift / (plan + show) |",
             "|" + "---:|" * 8]
    for r in rows:
        lines.append(f"| {r.n} | {r.best_plan_s:.2f} | {r.best_bare.total.wall_s:.2f} | {r.best_drift.wall_s:.2f} | "
                     f"{r.best_drift.wall_s - r.best_bare.total.wall_s:+.2f} | **{r.drift_ratio:.2f}** | "
                     f"{r.drift_ratio_plan_only:.2f} | {r.drift_cpu_ratio:.2f} |")
    return "\n".join(lines)


def pattern_table(rows: Sequence[SizeResult], which: str = "refresh") -> str:
    def counts(r: SizeResult) -> Counts:
        ph = getattr(r, which)
        return ph.counts if ph is not None else Counts(0, {}, 0)

    patterns: list[str] = []
    for r in rows:
        patterns += [p for p in counts(r).by_pattern if p not in patterns]
    lines = ["| request | " + " | ".join(f"N={r.n}" for r in rows) + " |", "|---|" + "---:|" * len(rows)]
    for p in patterns:
        lines.append(f"| `{p}` | " + " | ".join(str(counts(r).by_pattern.get(p, 0)) for r in rows) + " |")
    lines.append("| total | " + " | ".join(str(counts(r).requests) for r in rows) + " |")
    return "\n".join(lines)


def timeline_table(rows: Sequence[SizeResult]) -> str:
    lines = ["| N | command | wall s | CPU s terraform + bpg | CPU s node API | before 1st request s | "
             "first to last request s | after last request s | longest pause between requests s |",
             "|---:|---|" + "---:|" * 7]
    for r in rows:
        for name in ("apply", "refresh", "destroy"):
            ph = getattr(r, name)
            if ph is None or ph.timeline is None:
                continue
            t, c = ph.timeline, ph.timed
            lines.append(f"| {r.n} | {name} | {c.wall_s:.2f} | {c.cpu_s:.2f} | {c.node_cpu_s:.2f} | "
                         f"{t.before_first_s:.2f} | {t.api_span_s:.2f} | {t.after_last_s:.2f} | {t.longest_gap_s:.2f} |")
    return "\n".join(lines)


def profile_table(rows: Sequence[SizeResult]) -> str:
    """The drift command's extra work over a bare plan + show, each part alone (best of 5), and the
    ratio those parts give: (bare + extra) / bare, the figure a quiet machine would show."""
    lines = ["| N | CLI start-up s | terraform init s | read JSON + report s | extra total s | "
             "bare plan s | bare show -json s | show -json bytes | drift / (plan + show) from the parts |",
             "|---:|" + "---:|" * 8]
    for r in rows:
        p, b = r.profile, r.best_bare
        assert p is not None
        lines.append(f"| {r.n} | {p.cli_startup_s:.2f} | {p.init_s:.2f} | {p.report_s:.3f} | {p.overhead_s:.2f} | "
                     f"{b.plan.wall_s:.2f} | {b.show.wall_s:.2f} | {p.show_json_bytes:,} | "
                     f"**{r.drift_ratio_from_parts:.2f}** |")
    return "\n".join(lines)


def environment() -> dict[str, str]:
    def cmd(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    from pve_gpu_lxc_testing import tools
    return {
        "python": platform.python_version(),
        "terraform": cmd(tools.terraform_binary(), "version"),
        "bpg": tools.BPG_VERSION,
        "cpus": str(os.cpu_count()),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated N (default 1,10,50)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of drift and of the bare plan (best is kept)")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--keep", type=Path, help="work here and keep it (node files, logs, state) "
                                                  "instead of a temp dir")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="sim-bench-") as tmp:
        if args.keep:
            tmp = str(args.keep.resolve())
        for n in sizes:
            rows.append(run_size(n, Path(tmp) / f"n{n}", repeat=args.repeat,
                                 log=lambda msg: print(msg, file=sys.stderr, flush=True)))
    info = environment()
    print(f"terraform -parallelism={TF_PARALLELISM} (its default); {info}")
    print(markdown_table(rows))
    print("\nDrift command against a bare refresh-only plan (best of %d each):" % args.repeat)
    print(drift_table(rows))
    for which in ("refresh", "apply", "destroy"):
        print(f"\nAPI requests during {which}, by path pattern:")
        print(pattern_table(rows, which))
    print("\nWhen the node saw requests, per command:")
    print(timeline_table(rows))
    print("\nDrift command, its extra work over the bare plan + show, each part alone (best of 5):")
    print(profile_table(rows))
    print("\nOne SSH connection to the node (`ssh root@node true`, best of 3): "
          + ", ".join(f"N={r.n}: {r.ssh_connect_s:.2f}s" for r in rows))
    worst = max(r.drift_ratio for r in rows)
    print(f"\ndrift / (bare plan + show): worst {worst:.2f} (goal <= {TARGET_DRIFT_RATIO:.2f})")
    if args.json:
        args.json.write_text(json.dumps({
            "environment": info, "parallelism": TF_PARALLELISM, "repeat": args.repeat,
            "rows": [asdict(r) | {"requests_per_container": r.requests_per_container, "drift_ratio": r.drift_ratio,
                                  "drift_ratio_plan_only": r.drift_ratio_plan_only,
                                  "drift_cpu_ratio": r.drift_cpu_ratio,
                                  "drift_ratio_from_parts": r.drift_ratio_from_parts} for r in rows]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

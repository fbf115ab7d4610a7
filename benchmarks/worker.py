"""One measurement in a fresh process: build N containers with one implementation, synth, report.

Run by synth_benchmark.py as `python -m benchmarks.worker IMPL N OUTDIR`; prints
one JSON object.  A fresh process per measurement makes peak RSS per N
meaningful.  jsii runs two node processes under Python (the jsii-runtime relay
and the kernel it spawns); their peak RSS (VmHWM) and CPU time are read from
/proc before exit and counted with Python's.
"""

from __future__ import annotations

import time

_START = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # field 4 is the parent pid; field 2 (comm) may hold spaces, so split after ')'
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry))
    return kids


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants_cpu_s(pid: int) -> float:
    """CPU seconds of the live descendants of `pid` (jsii's node runtime)."""
    return sum(_cpu_s(kid) + descendants_cpu_s(kid) for kid in _children(pid))


def cpu_split() -> tuple[float, float]:
    """(this process, its descendants) CPU seconds: the work done, whatever the machine's load."""
    return time.process_time(), descendants_cpu_s(os.getpid())


def descendants_peak_kib(pid: int) -> int:
    """Sum of VmHWM (peak RSS) of every live descendant of `pid` (jsii's relay and kernel)."""
    total = 0
    for kid in _children(pid):
        try:
            for line in Path(f"/proc/{kid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
        total += descendants_peak_kib(kid)
    return total


def run(impl: str, n: int, outdir: str) -> dict:
    from pve_gpu_lxc.engine import App

    from .compare import json_bytes
    from .workload import plan

    specs = plan(n)
    if impl == "ours":
        from . import build_ours

        def build(app: App) -> None:
            build_ours.build(app, specs)
    elif impl in ("raw", "raw-callback", "raw-override"):
        from . import build_raw

        prepared = build_raw.prepare(specs)  # input data, untimed
        style = build_raw.STYLE if impl == "raw" else impl.split("-", 1)[1]

        def build(app: App) -> None:
            build_raw.build(app, specs, prepared, style)  # type: ignore[arg-type]
    else:
        raise SystemExit(f"unknown implementation {impl!r}: use ours, raw, raw-callback or raw-override")

    c0, t0 = cpu_split(), time.perf_counter()
    app = App(outdir=outdir)
    build(app)
    c1, t1 = cpu_split(), time.perf_counter()
    app.synth()
    c2, t2 = cpu_split(), time.perf_counter()
    py_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    node_kib = descendants_peak_kib(os.getpid())
    return {
        "impl": impl,
        "n": n,
        "startup_s": t0 - _START,
        "construct_s": t1 - t0,
        "synth_s": t2 - t1,
        "construct_cpu_s": sum(c1) - sum(c0),
        "synth_cpu_s": sum(c2) - sum(c1),
        "python_cpu_s": c2[0] - c0[0],
        "node_cpu_s": c2[1] - c0[1],
        "python_peak_mib": py_kib / 1024,
        "node_peak_mib": node_kib / 1024,
        "json_bytes": json_bytes(outdir),
    }


def main(argv: list[str]) -> None:
    impl, n, outdir = argv[0], int(argv[1]), argv[2]
    print(json.dumps(run(impl, n, outdir)))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Run a simulated PVE node until SIGINT/SIGTERM; stdout carries only `export NAME=value` lines.

    python -m pve_gpu_lxc_testing.pvesim --root /tmp/node --facts stacks/facts/pve.json > /tmp/node.env &
    sleep 2; eval "$(cat /tmp/node.env)"      # it serves until stopped, so read the exports from a file
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import threading
from pathlib import Path

from .sim import Simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pve_gpu_lxc_testing.pvesim",
                                     description="Serve a simulated Proxmox VE node (API + SSH).")
    parser.add_argument("--root", type=Path, required=True, help="the node's root directory")
    parser.add_argument("--facts", type=Path, help="host-facts JSON (devices, subuid/subgid, groups)")
    parser.add_argument("--node", default="pve", help="node name (default: pve)")
    parser.add_argument("--state-dir", type=Path, help="keys, certificate, logs (default: a new temp dir)")
    parser.add_argument("--no-ssh", action="store_true", help="API only")
    args = parser.parse_args(argv)
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="pvesim-"))

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    sim = Simulator(args.root, state_dir, node=args.node, facts=args.facts, ssh=not args.no_ssh).start()
    try:
        for name, value in sim.env.items():
            sys.stdout.write(f"export {name}={shlex.quote(value)}\n")
        sys.stdout.flush()
        print(f"pvesim: node {args.node!r} at {sim.endpoint} (root {args.root}, state {state_dir}); "
              "Ctrl-C stops it", file=sys.stderr, flush=True)
        while not stop.wait(3600):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Smoke test of benchmarks/check_benchmark.py at N=2: it still runs on the simulated node, and the
cost it records holds (login + the node's container listing + one config read per container, one SSH
session, node unchanged)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.check_benchmark import markdown_table, run_size

pytestmark = pytest.mark.e2e


def test_check_benchmark_runs_at_n_2(tmp_path: Path) -> None:
    row = run_size(2, tmp_path, repeat=1, log=lambda _: None)
    (run,) = row.runs
    assert (run.api_requests, run.ssh_logins, run.exit_code) == (4, 1, 0)
    assert run.reported["api_requests"] == 4 and run.reported["ssh_sessions"] == 1
    assert markdown_table([row]).splitlines()[2].startswith("| 2 | 4 (1 + 1 + 2) | 1.00 | 1 |")

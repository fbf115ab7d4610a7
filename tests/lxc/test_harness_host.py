"""pve_gpu_lxc_testing.lxc.preflight and host lookups: why a machine cannot run the LXC tests."""

from __future__ import annotations

import pytest

from pve_gpu_lxc_testing.lxc import HarnessError, PassthroughDevice, plan
from pve_gpu_lxc_testing.lxc import render
from pve_gpu_lxc_testing.lxc.model import ContainerSpec


def test_preflight_names_missing_packages_and_the_fix(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pve_gpu_lxc_testing.lxc import preflight

    monkeypatch.setattr(preflight.shutil, "which", lambda tool: None)
    reason = preflight.why_not(busybox=tmp_path / "busybox")
    assert reason is not None
    assert "['lxc', 'uidmap']" in reason and "make system-deps" in reason
    assert "busybox-static" in reason


def test_preflight_refuses_a_dynamically_linked_busybox(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pve_gpu_lxc_testing.lxc import preflight

    fake = tmp_path / "busybox"
    fake.write_bytes(b"\x7fELF" + b"\0" * 100 + b"/lib64/ld-linux-x86-64.so.2")
    assert "dynamically linked" in (preflight.why_not(busybox=fake) or "")


def test_real_node_lookup_refuses_a_missing_device_like_pve() -> None:
    with pytest.raises(HarnessError, match="Device /dev/dri/renderD999 does not exist"):
        plan(ContainerSpec("x", 200, True, (), (PassthroughDevice("/dev/dri/renderD999"),)))
    assert render.host_rdev("/dev/null") == (1, 3)


def test_leftover_lxc_cgroups_are_found_per_container(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pve_gpu_lxc_testing.lxc.runner import _cgroup_dirs

    for d in ("memory/lxc.payload.ct1", "lxc.payload.ct1", "memory/lxc.pivot", "memory/lxc.payload.other"):
        (tmp_path / d).mkdir(parents=True)
    found = sorted(str(p.relative_to(tmp_path)) for p in _cgroup_dirs(["ct1"], tmp_path))
    assert found == ["lxc.payload.ct1", "memory/lxc.payload.ct1"]

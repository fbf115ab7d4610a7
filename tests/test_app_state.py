"""App-wide state lives in the construct tree: per App, collected with it; VMIDs unique per cluster.

The memory test runs in a fresh interpreter.  jsii's Python runtime keeps every object it
creates from Python in its own reference map for the life of the process (by design: it
cannot know what the node kernel still holds).  The test removes exactly the entries of the
objects it created and then shows that nothing else, in particular nothing of this library,
keeps an App, a construct or a model alive, and that the library's traced memory does not
grow with the number of Apps.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pve_gpu_lxc.engine import TerraformStack
from pve_gpu_lxc.engine import Testing as CdktfTesting  # renamed: pytest would try to collect `Testing*`

from pve_gpu_lxc import GpuContainer, IntelGpu, Template, ValidationError

ROOT = Path(__file__).resolve().parent.parent
UBUNTU = Template.existing("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")

TWO_HUNDRED_APPS = r'''
import gc, json, sys, tempfile, tracemalloc, weakref
import jsii._reference_map as reference_map
from pve_gpu_lxc.engine import App, TerraformStack
from pve_gpu_lxc import GpuContainer, IntelGpu, ProxmoxProvider, Template

TEMPLATE = Template.existing("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
OUTDIR = tempfile.mkdtemp()
refs = reference_map._refs._refs  # jsii's own map: ref -> every Python object it created
library = tracemalloc.Filter(True, "*/pve_gpu_lxc/*")


def build_apps(count):
    """`count` Apps, each with a stack, a provider and a GPU container; weak references to all four."""
    built = []
    for _ in range(count):
        app = App(outdir=OUTDIR)
        stack = TerraformStack(app, "media")
        provider = ProxmoxProvider(stack, "proxmox", environ={})
        # the same VMID on the same node in every App: only possible when the state is per App
        container = GpuContainer(stack, "ct", node_name="pve", vm_id=200, hostname="ct", template=TEMPLATE,
                                 gpus=[IntelGpu()])
        built.append([weakref.ref(o) for o in (app, stack, provider, container)])
    return built


def library_bytes():
    gc.collect()
    return sum(s.size for s in tracemalloc.take_snapshot().filter_traces([library]).statistics("filename"))


build_apps(5)  # warm up: first-use caches (dataclass field names, compiled patterns) are not growth
tracemalloc.start()
before = set(refs)
baseline = library_bytes()
built = build_apps(200)
created = set(refs) - before
held_by_jsii = library_bytes() - baseline
for key in created:  # forget what jsii holds for the objects of these 200 Apps
    del refs[key]
gc.collect()
alive = [sum(refs_of_app[i]() is not None for refs_of_app in built) for i in range(4)]
print(json.dumps({
    "apps": len(built),
    "alive": dict(zip(["apps", "stacks", "providers", "containers"], alive)),
    "jsii_entries": len(created),
    "library_bytes_while_jsii_holds_them": held_by_jsii,
    "library_bytes_after": library_bytes() - baseline,
}))
'''


def test_two_hundred_apps_leave_nothing_behind_in_the_library() -> None:
    result = subprocess.run([sys.executable, "-c", TWO_HUNDRED_APPS], cwd=ROOT, capture_output=True, text=True,
                            timeout=600, env={"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
                                              "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["apps"] == 200
    assert report["alive"] == {"apps": 0, "stacks": 0, "providers": 0, "containers": 0}, report
    # what the library allocated for 200 Apps (models, props, state: tens of KiB per App) is all gone
    assert report["library_bytes_while_jsii_holds_them"] > 200 * 1024, report
    assert report["library_bytes_after"] < 16 * 1024, report


# --------------------------------------------------------------------------- the state is per App, in the tree


def make(stack: TerraformStack, id: str, node: str, vm_id: int) -> GpuContainer:
    return GpuContainer(stack, id, node_name=node, vm_id=vm_id, hostname=id, template=UBUNTU, gpus=[IntelGpu()])


def test_the_state_is_a_child_of_the_app_and_emits_nothing() -> None:
    app = CdktfTesting.app()
    stack = TerraformStack(app, "s")
    make(stack, "ct", "pve", 200)
    state = app.node.try_find_child("pve-gpu-lxc")
    assert state is not None and type(state).__name__ == "AppState"
    doc = json.loads(CdktfTesting.synth(stack))
    assert set(doc["resource"]) == {"proxmox_virtual_environment_container"}


def test_two_apps_do_not_share_vm_ids() -> None:
    for _ in range(2):
        make(TerraformStack(CdktfTesting.app(), "s"), "ct", "pve", 200)


def test_the_library_keeps_no_module_level_registry() -> None:
    """No module of the product holds a mutable dict/set/list at module level that could collect constructs."""
    import importlib
    import pkgutil

    import pve_gpu_lxc

    suspicious = []
    for info in pkgutil.walk_packages(pve_gpu_lxc.__path__, "pve_gpu_lxc."):
        if info.name.endswith("__main__"):
            continue  # `python -m pve_gpu_lxc` runs the command line when imported
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if name.startswith("__") or not isinstance(value, (dict, set, list)):
                continue
            if any(hasattr(item, "node") for item in (value.values() if isinstance(value, dict) else value)):
                suspicious.append(f"{info.name}.{name}")
    assert not suspicious


# --------------------------------------------------------------------------- VMIDs per cluster


def test_one_stack_reaches_one_cluster_so_a_vm_id_is_unique_across_its_nodes() -> None:
    stack = TerraformStack(CdktfTesting.app(), "s")
    make(stack, "a", "pve", 200)
    with pytest.raises(ValidationError) as err:
        make(stack, "b", "pve2", 200)
    assert str(err.value) == (
        "GpuContainer 's/b': vm_id 200 is already used by GpuContainer 's/a' on node 'pve', which is in one cluster "
        "with node 'pve2' (a stack's provider reaches one cluster, and VMIDs are unique per cluster in Proxmox VE); "
        "give each container its own vm_id"
    )
    assert stack.node.try_find_child("b") is None


def test_joining_two_clusters_with_a_shared_vm_id_is_refused() -> None:
    app = CdktfTesting.app()
    one, two = TerraformStack(app, "one"), TerraformStack(app, "two")
    make(one, "a", "pve", 200)
    make(two, "b", "pve2", 200)
    with pytest.raises(ValidationError) as err:
        make(two, "c", "pve", 300)
    assert str(err.value) == (
        "GpuContainer 'two/c': node 'pve' in stack 'two' puts nodes 'pve' and 'pve2' into one cluster, where vm_id "
        "200 is used twice (GpuContainer 'one/a' and 'two/b'); VMIDs are unique per cluster in Proxmox VE: give "
        "each container its own vm_id"
    )


def test_nodes_no_stack_joins_may_reuse_a_vm_id() -> None:
    app = CdktfTesting.app()
    make(TerraformStack(app, "one"), "a", "pve", 200)
    make(TerraformStack(app, "two"), "b", "pve2", 200)  # two standalone nodes, as far as the app can tell

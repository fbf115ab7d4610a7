"""tests/data/image/pve-nvidia-535.json: the example node (stacks/facts/pve.json) running Debian 12's own
NVIDIA driver, 535.261.03 (nvidia-graphics-drivers in bookworm non-free), on a GPU that driver supports.

The Debian-packages image is booted against it, so the hook's version guard meets the image's driver.
It must stay the example node with only the driver changed: when pve.json changes, this fails.
"""

from __future__ import annotations

import json
from pathlib import Path

from pve_gpu_lxc import HostFacts
from pve_gpu_lxc_testing.image.images import DEBIAN_PACKAGES_DRIVER

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "stacks" / "facts" / "pve.json"
FACTS_535 = REPO / "tests" / "data" / "image" / "pve-nvidia-535.json"


def test_it_records_the_debian_packages_driver() -> None:
    facts = HostFacts.load(FACTS_535)
    assert facts.nvidia_driver_version == DEBIAN_PACKAGES_DRIVER
    assert HostFacts.load(EXAMPLE).nvidia_driver_version == "575.64.03"


def test_it_is_the_example_node_with_only_the_driver_and_a_gpu_it_supports_changed() -> None:
    example, changed = json.loads(EXAMPLE.read_text()), json.loads(FACTS_535.read_text())
    # the RTX 5090 (10de:2b85) needs 570 or later; 535 drives an RTX 4090 (10de:2684)
    assert changed["nvidia"]["version_file"].startswith(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.261.03  ")
    assert (changed["nvidia"]["module_version"], changed["nvidia"]["gpus"][0]["model"]) == (
        "535.261.03", "NVIDIA GeForce RTX 4090")
    for entry in changed["drm"]:
        if entry["vendor"] == "0x10de":
            entry["device"] = "0x2b85"
    changed["nvidia"] = example["nvidia"]
    assert changed == example

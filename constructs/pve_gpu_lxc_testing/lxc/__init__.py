"""Boot synthesized GPU containers under real LXC and check idmaps and device ownership.

Pipeline: `bpg.containers(doc)` (or a hand-made `ContainerSpec`) -> `render.plan`
-> `runner.boot_all` inside `runner.LxcHarness` -> `BootResult.problems()`.
See docs/lxc-harness.md.
"""

from .model import ContainerSpec, HarnessError, IdRange, PassthroughDevice, ranges_from_entries
from .render import ContainerPlan, plan, stand_in_rdev
from .runner import BootResult, LxcHarness, boot_all, boot_specs, boot_template

__all__ = [
    "BootResult", "ContainerPlan", "ContainerSpec", "HarnessError", "IdRange", "LxcHarness",
    "PassthroughDevice", "boot_all", "boot_specs", "boot_template", "plan", "ranges_from_entries", "stand_in_rdev",
]

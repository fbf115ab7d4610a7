"""A scratch project that runs the repository's example stacks with `configure_backend`.

The drift and shared-state tests synthesize from here, so cdktf.out and any
local state land in a temporary directory, never in the repository, and the
backend comes from `PVE_GPU_LXC_BACKEND` exactly as in the product.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# configure_backend is applied only to a stack that has not chosen a backend
# itself (the example stacks may call it already).
MAIN_PY = """\
import sys
sys.path.insert(0, {repo!r})
from pve_gpu_lxc.engine import App, TerraformBackend
from stacks import STACKS
from pve_gpu_lxc.cdk.backend import configure_backend

app = App()
for name, cls in STACKS.items():
    if {only!r} and name not in {only!r}:
        continue
    stack = cls(app, name)
    if not any(isinstance(c, TerraformBackend) for c in stack.node.children):
        configure_backend(stack, name)
app.synth()
"""


def write_scratch_project(dest: Path, only: tuple[str, ...] = ()) -> Path:
    """`dest/main.py` building the example stacks (all, or only those named)."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "main.py").write_text(MAIN_PY.format(repo=str(REPO), only=tuple(only)))
    return dest

"""Shared fixtures, on the package's own test helpers (pve_gpu_lxc.testing and its pytest plugin).

Every stack synthesized through `synth` runs its validations and is checked against the bpg schema.
"""

from __future__ import annotations

from typing import Any, Callable

import os

import pytest
from pve_gpu_lxc.engine import ENGINE, TerraformStack
from hypothesis import settings

from pve_gpu_lxc import ProxmoxProvider
from pve_gpu_lxc.testing import container, synth as synth_json

# CI runs the same examples every time (a failure reproduces; a landing never depends on luck);
# developers' runs explore new random examples and keep failures in .hypothesis/.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# No credentials at all: synthesis must not depend on them.
NO_CREDENTIALS: dict[str, str] = {}
ROOT_PASSWORD_ENV = {"PROXMOX_VE_USERNAME": "root@pam", "PROXMOX_VE_PASSWORD": "not-a-real-password"}


def pytest_report_header() -> str:
    """The CDK engine this run synthesizes with (`make test` runs the unit suite under cdktf, then cdktn)."""
    return f"pve-gpu-lxc engine: {ENGINE.name} {ENGINE.version}"


@pytest.fixture
def app(pve_app: Any) -> Any:
    """The plugin's fresh test App."""
    return pve_app


@pytest.fixture
def stack(pve_stack: TerraformStack) -> TerraformStack:
    """The plugin's fresh stack "test", with a provider configured for GPU containers (root@pam password, SSH)."""
    ProxmoxProvider(pve_stack, "proxmox", environ=ROOT_PASSWORD_ENV)
    return pve_stack


@pytest.fixture
def synth() -> Callable[[TerraformStack], dict[str, Any]]:
    return synth_json


def container_of(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return container(doc, name)


# --- the OCI application image and the loopback registry (issue 22) --------------------------------------
# Built and started once per session, on first use: the image with umoci from busybox-static
# (pve_gpu_lxc_testing/ociimage.py), the registry as Debian's docker-registry over TLS on a free
# loopback port (ociregistry.py), its state under the session's tmp dir. Nothing from a public registry.

@pytest.fixture(scope="session")
def oci_layout(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The test image's OCI layout directory (tag ociimage.TAG)."""
    from pve_gpu_lxc_testing import ociimage

    return ociimage.build_app_image(tmp_path_factory.mktemp("oci-image") / "layout")


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory, oci_layout: Any) -> Any:
    """A started registry holding the test image as `pvesim/app:1.0` (its reference: `oci_registry.app_ref`)."""
    from pve_gpu_lxc_testing import ociimage
    from pve_gpu_lxc_testing.ociregistry import Registry

    with Registry(tmp_path_factory.mktemp("oci-registry")) as registry:
        registry.app_ref = registry.push(oci_layout, ociimage.TAG, "pvesim/app")  # type: ignore[attr-defined]
        yield registry

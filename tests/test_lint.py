"""ruff and mypy --strict are clean on the product and the test infrastructure, and a user's
stack type-checks against the product.

The configuration is in pyproject.toml; these tests are how `make test` runs the tools, and
they keep its exemptions from growing.
The user file imports every public name (from `__all__`) and builds a stack the way the
README does; a second file makes the mistakes mypy must catch (an unknown keyword, a string
where a Template or a Disk goes).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pve_gpu_lxc

ROOT = Path(__file__).resolve().parent.parent
MYPY_CACHE = ROOT / ".mypy_cache"
PACKAGES = ("pve_gpu_lxc", "pve_gpu_lxc_testing")
# Folders of the test infrastructure that ruff checks for errors only, not the product's style
# rules (pyproject.toml's per-file-ignores).  This list may only shrink.
RUFF_STYLE_EXEMPT = ("constructs/pve_gpu_lxc_testing/lxc/**", "constructs/pve_gpu_lxc_testing/image/**")
# Modules mypy checks without reporting their errors (pyproject.toml's ignore_errors overrides).
# This list may only shrink.
MYPY_EXEMPT: tuple[str, ...] = ()


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def test_ruff_is_clean_on_constructs() -> None:
    result = run("ruff", "check", "--no-cache", "constructs")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_test_infrastructure_has_no_other_ruff_exemption() -> None:
    ignores = pyproject()["tool"]["ruff"]["lint"]["per-file-ignores"]
    testing = sorted(p for p in ignores if p.startswith("constructs/pve_gpu_lxc_testing"))
    assert testing == sorted(RUFF_STYLE_EXEMPT)


def test_mypy_strict_is_clean_on_the_product_and_the_test_infrastructure(tmp_path: Path) -> None:
    # strict, packages = ["pve_gpu_lxc", "pve_gpu_lxc_testing"] from pyproject.toml; the report lists every
    # module checked
    result = run("mypy", "--cache-dir", str(MYPY_CACHE), "--lineprecision-report", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found")
    checked = {line.split()[0] for line in (tmp_path / "lineprecision.txt").read_text().splitlines()[2:]}
    modules = {".".join(path.relative_to(ROOT / "constructs").with_suffix("").parts).removesuffix(".__init__")
               for package in PACKAGES for path in (ROOT / "constructs" / package).rglob("*.py")}
    assert modules <= checked, f"not type-checked: {sorted(modules - checked)}"


def test_mypy_reports_the_errors_of_every_module_but_the_listed_ones() -> None:
    overrides = pyproject()["tool"]["mypy"].get("overrides", [])
    exempt = sorted(m for o in overrides if o.get("ignore_errors") for m in
                    ([o["module"]] if isinstance(o["module"], str) else o["module"]))
    assert exempt == sorted(MYPY_EXEMPT)


USER_FILE = '''\
from cdktf import App, TerraformStack
from pve_gpu_lxc import {names}

app = App()
stack = TerraformStack(app, "media")
configure_backend(stack, "media")
provider: ProxmoxProvider = ProxmoxProvider(stack, "proxmox", ssh=ProxmoxSsh(username="root"))
template: Template = Template.existing("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
ct = GpuContainer(
    stack, "jellyfin", node_name="pve", vm_id=210, hostname="jellyfin", template=template,
    gpus=[IntelGpu(card=0, render=128), AmdGpu(rocm=True), NvidiaGpu(driver_version="575.64.03")],
    devices=[Device("/dev/net/tun")], disk=Disk(size_gib=32), network=Network(bridge="vmbr0"),
    features=Features(fuse=True), idmap=IdMap.passthrough(gids={{44: 44}}), hooks=Hooks(post_start=[["/bin/true"]]),
)
same = GpuContainer(stack, "b", GpuContainerProps(node_name="pve", vm_id=211, hostname="b", template=template))
model: ContainerModel = ct.model
rebuilt: ContainerModel = build_model(model.props)
vm_id_ref: int | float = ct.resource.vm_id_ref   # typed from the provider schema
file_id: str = ct.resource.id_ref
hook: HookScript | None = ct.hook_script
gids: TemplateGids | None = template.gids()
entries: tuple[IdMapEntry, ...] = IdMap.default().entries
facts: type[HostFacts] = HostFacts
image: NvidiaImage = NvidiaImage(nvidia_driver="575.64.03", source_url="file:///tmp/rootfs.tar.xz")
read: object = read_template_gids
error: type[ValueError] = ValidationError
app.synth()
'''

MISTAKES = '''\
from cdktf import App, TerraformStack
from pve_gpu_lxc import Disk, GpuContainer, Template

stack = TerraformStack(App(), "s")
ok = Template.existing("local:vztmpl/x.tar.zst")
GpuContainer(stack, "a", node_name="pve", vm_id=200, hostname="a", template=ok, memory=2048)
GpuContainer(stack, "b", node_name="pve", vm_id=201, hostname="b", template="local:vztmpl/x.tar.zst")
GpuContainer(stack, "c", node_name="pve", vm_id="202", hostname="c", template=ok, disk={{"size_gib": 8}})
'''


def mypy_strict(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "user_stack.py"
    path.write_text(source)
    # a user's project: no pyproject.toml of ours, the library found as installed (PEP 561, py.typed)
    return run("mypy", "--strict", "--cache-dir", str(MYPY_CACHE), "--no-error-summary", str(path), cwd=tmp_path)


def test_a_user_file_importing_every_public_name_type_checks(tmp_path: Path) -> None:
    names = ", ".join(sorted(pve_gpu_lxc.__all__))
    result = mypy_strict(tmp_path, USER_FILE.format(names=names))
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_catches_a_users_unknown_keyword_and_wrong_types(tmp_path: Path) -> None:
    result = mypy_strict(tmp_path, MISTAKES.format())
    assert result.returncode == 1
    lines = {int(m[1]): m[2] for m in re.finditer(r"user_stack\.py:(\d+): error: (.*)", result.stdout)}
    assert sorted(lines) == [6, 7, 8], result.stdout  # one error per bad call, none elsewhere
    assert "No overload variant" in lines[6] or "memory" in lines[6]


def test_gpu_container_keywords_are_the_props_fields_with_their_defaults() -> None:
    """The keyword overload users type-check against is GpuContainerProps, field for field."""
    import dataclasses
    import inspect
    import typing

    from pve_gpu_lxc import GpuContainer, GpuContainerProps

    by_props, by_keywords = typing.get_overloads(GpuContainer.__init__)
    assert list(inspect.signature(by_props).parameters) == ["self", "scope", "id", "props"]
    params = {n: p for n, p in inspect.signature(by_keywords).parameters.items() if p.kind is p.KEYWORD_ONLY}
    fields = {f.name: f for f in dataclasses.fields(GpuContainerProps)}
    assert list(params) == list(fields)
    for name, field in fields.items():
        default = params[name].default
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            assert default is inspect.Parameter.empty, name  # required in both
        elif default is not Ellipsis:  # `...` where the default is built by a factory (Disk(), Network(), ...)
            assert default == field.default, name
        else:
            assert field.default_factory is not dataclasses.MISSING, name

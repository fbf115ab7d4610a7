"""The CDK engine the library is built on, chosen in this one module.

Two engines have the same Python API and write the same Terraform JSON: CDK for Terraform
(`cdktf` 0.21, archived by HashiCorp in December 2025) and its community fork CDK Terrain
(`cdktn` 0.24).  Both run on the `constructs` and `jsii` libraries.  The L1 classes (`l1/`)
and the constructs (`cdk/`) import the engine's names from here and never `cdktf`, `cdktn`,
`constructs` or `jsii` directly (the import-linter contracts in pyproject.toml), so the
choice is made once, when this module is first imported:

1. `PVE_GPU_LXC_ENGINE=cdktf|cdktn` when set;
2. else the engine the app has already imported (`from cdktn import App` before the first
   construct), when exactly one of them is loaded: constructs of one engine cannot join an
   App of the other;
3. else `cdktf` when installed, else `cdktn`.

Neither installed, or the selected one missing, raises `EngineNotFoundError` (an
ImportError) naming the pip command that fixes it.  Type checkers see cdktf's names: the
engines' classes have the same members.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal, NamedTuple

EngineName = Literal["cdktf", "cdktn"]
ENGINES: tuple[EngineName, ...] = ("cdktf", "cdktn")
ENGINE_VARIABLE = "PVE_GPU_LXC_ENGINE"
INSTALL = {
    "cdktf": "pip install 'pve-gpu-lxc[cdktf]'",
    "cdktn": "pip install 'pve-gpu-lxc[cdktn]'",
}


class EngineNotFoundError(ImportError):
    """No usable CDK engine: the message names the variable or the pip command to fix it."""


class Engine(NamedTuple):
    """The active engine: its import name and installed version (e.g. `cdktn`, `0.24.0`)."""

    name: EngineName
    version: str


def select_engine(
    environ: Mapping[str, str],
    installed: Callable[[str], bool],
    loaded: Callable[[str], bool] = lambda _name: False,
) -> EngineName:
    """Which engine to load (pure: the environment, what is installed and what is loaded come in)."""
    wanted = environ.get(ENGINE_VARIABLE, "").strip()
    if wanted:
        chosen = next((name for name in ENGINES if name == wanted), None)
        if chosen is None:
            raise EngineNotFoundError(
                f"{ENGINE_VARIABLE}={wanted!r} is not an engine: use cdktf or cdktn (or unset it to pick "
                "the installed one)"
            )
        if not installed(chosen):
            raise EngineNotFoundError(
                f"{ENGINE_VARIABLE}={chosen} selects the engine {chosen}, which is not installed in "
                f"{sys.prefix}: {INSTALL[chosen]}"
            )
        return chosen
    already = [name for name in ENGINES if loaded(name)]
    if len(already) == 1:
        return already[0]
    for name in ENGINES:
        if installed(name):
            return name
    raise EngineNotFoundError(
        "pve-gpu-lxc needs a CDK engine and neither cdktf nor cdktn is installed in "
        f"{sys.prefix}: {INSTALL['cdktf']} (CDK for Terraform) or {INSTALL['cdktn']} (CDK Terrain)"
    )


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _active() -> Engine:
    name = select_engine(os.environ, _installed, lambda module: module in sys.modules)
    return Engine(name, importlib.metadata.version(name))


ENGINE = _active()
"""The engine this process synthesizes with (for messages and metadata)."""

# Both engines run on jsii and constructs; imported after the choice, so an install without
# an engine (and so without jsii) gets EngineNotFoundError and its pip command instead.
import jsii  # noqa: E402

from constructs import Construct, IConstruct, IValidation  # noqa: E402

# The chosen engine's module; each name below is taken from it once.  mypy treats
# `TYPE_CHECKING or ...` as always true, so type checkers see cdktf (the engines' classes
# have the same members).
if TYPE_CHECKING or ENGINE.name == "cdktf":
    import cdktf as _engine
else:
    import cdktn as _engine

App = _engine.App
IResolvable = _engine.IResolvable
ITerraformDependable = _engine.ITerraformDependable
LocalBackend = _engine.LocalBackend
PgBackend = _engine.PgBackend
Precondition = _engine.Precondition
TerraformBackend = _engine.TerraformBackend
TerraformCount = _engine.TerraformCount
TerraformDataSource = _engine.TerraformDataSource
TerraformOutput = _engine.TerraformOutput
TerraformProvider = _engine.TerraformProvider
TerraformProviderGeneratorMetadata = _engine.TerraformProviderGeneratorMetadata
TerraformResource = _engine.TerraformResource
TerraformResourceLifecycle = _engine.TerraformResourceLifecycle
TerraformStack = _engine.TerraformStack
Testing = _engine.Testing

implements = jsii.implements
"""Class decorator: a Python class implements an engine interface (e.g. `IValidation`)."""

Number = jsii.Number

__all__ = [
    "ENGINE",
    "ENGINES",
    "ENGINE_VARIABLE",
    "App",
    "Construct",
    "Engine",
    "EngineName",
    "EngineNotFoundError",
    "IConstruct",
    "IResolvable",
    "ITerraformDependable",
    "IValidation",
    "LocalBackend",
    "Number",
    "PgBackend",
    "Precondition",
    "TerraformBackend",
    "TerraformCount",
    "TerraformDataSource",
    "TerraformOutput",
    "TerraformProvider",
    "TerraformProviderGeneratorMetadata",
    "TerraformResource",
    "TerraformResourceLifecycle",
    "TerraformStack",
    "Testing",
    "implements",
    "select_engine",
]

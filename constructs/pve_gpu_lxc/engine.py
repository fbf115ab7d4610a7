"""The CDK engine the library is built on, named in this one module.

Today that is CDK for Terraform (`cdktf`, with the `constructs` and `jsii` libraries it
runs on).  The L1 classes (`l1/`) and the constructs (`cdk/`) import these names from
here and never `cdktf`, `constructs` or `jsii` directly, so switching the engine (for
example to its fork `cdktn`) changes this file only.  The import-linter contracts in
pyproject.toml keep every other layer (model, facts, image, core, cli) from importing it.
"""

from __future__ import annotations

import jsii
from cdktf import (
    App,
    IResolvable,
    ITerraformDependable,
    LocalBackend,
    PgBackend,
    TerraformBackend,
    TerraformCount,
    TerraformOutput,
    TerraformProvider,
    TerraformProviderGeneratorMetadata,
    TerraformResource,
    TerraformResourceLifecycle,
    TerraformStack,
    Testing,
)

from constructs import Construct, IConstruct, IValidation

implements = jsii.implements
"""Class decorator: a Python class implements an engine interface (e.g. `IValidation`)."""

Number = jsii.Number

__all__ = [
    "App",
    "Construct",
    "IConstruct",
    "IResolvable",
    "ITerraformDependable",
    "IValidation",
    "LocalBackend",
    "Number",
    "PgBackend",
    "TerraformBackend",
    "TerraformCount",
    "TerraformOutput",
    "TerraformProvider",
    "TerraformProviderGeneratorMetadata",
    "TerraformResource",
    "TerraformResourceLifecycle",
    "TerraformStack",
    "Testing",
    "implements",
]

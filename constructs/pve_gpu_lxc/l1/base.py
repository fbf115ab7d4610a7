"""Runtime support for the generated L1 classes: rendering typed config to Terraform JSON.

The generated classes (`generated.py`) only declare fields; this module turns a
config of plain values and block dataclasses into the JSON body cdktf writes.
`None` means "not set" and is never rendered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ..engine import (
    Construct,
    ITerraformDependable,
    Number,
    TerraformCount,
    TerraformDataSource,
    TerraformProvider,
    TerraformProviderGeneratorMetadata,
    TerraformResource,
    TerraformResourceLifecycle,
)
from ..pve.synthesized import PROVIDER

PROVIDER_NAME = PROVIDER
PROVIDER_SOURCE = "bpg/proxmox"
# idmap needs >= 0.97 (applied on first boot from 0.108); the schema data is 0.111.1.
PROVIDER_VERSION_CONSTRAINT = "~> 0.111"

# Only the constraint: with provider_version set, cdktf pins required_providers to it exactly.
GENERATOR_METADATA = TerraformProviderGeneratorMetadata(
    provider_name=PROVIDER_NAME,
    provider_version_constraint=PROVIDER_VERSION_CONSTRAINT,
)


# type -> its dataclass field names, or None for non-dataclasses: `dataclasses.fields()`
# per value was most of the Python time of synthesis (docs/benchmarks.md).
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}
_SCALARS = frozenset((str, int, float, bool))


def _field_names(cls: type) -> tuple[str, ...] | None:
    try:
        return _FIELD_NAMES[cls]
    except KeyError:
        names = tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None
        _FIELD_NAMES[cls] = names
        return names


def render(value: Any) -> Any:
    """Plain JSON for a config value: dataclass blocks become objects, None fields vanish."""
    cls = type(value)
    if cls in _SCALARS:
        return value
    names = _field_names(cls)  # a dataclass instance (a dataclass class has type `type`)
    if names is not None:
        block = {}
        for name in names:
            field_value = getattr(value, name)
            if field_value is not None:
                block[name] = render(field_value)
        return block
    if isinstance(value, (list, tuple)):
        return [render(v) for v in value]
    if isinstance(value, Mapping):
        return {k: render(v) for k, v in value.items()}
    return value


def render_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: render(v) for k, v in config.items() if v is not None}


class _TypedConfig:
    """The typed configuration of a generated class, rendered by cdktf's synthesis callback."""

    _config: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        """The typed configuration as given (a copy)."""
        return dict(self._config)

    def _synthesize_attributes(self) -> dict[str, Any]:
        return render_config(self._config)


class BpgResource(_TypedConfig, TerraformResource):
    """Base of the generated resource classes."""

    TF_TYPE: str = ""

    def __init__(
        self,
        scope: Construct,
        id: str,
        config: Mapping[str, Any],
        *,
        depends_on: Sequence[ITerraformDependable] | None = None,
        count: Number | TerraformCount | None = None,
        provider: TerraformProvider | None = None,
        lifecycle: TerraformResourceLifecycle | None = None,
    ) -> None:
        super().__init__(
            scope,
            id,
            terraform_resource_type=self.TF_TYPE,
            terraform_generator_metadata=GENERATOR_METADATA,
            depends_on=depends_on,
            count=count,
            provider=provider,
            lifecycle=lifecycle,
        )
        self._config = dict(config)


class BpgDataSource(_TypedConfig, TerraformDataSource):
    """Base of the generated data source classes."""

    TF_TYPE: str = ""

    def __init__(
        self,
        scope: Construct,
        id: str,
        config: Mapping[str, Any],
        *,
        depends_on: Sequence[ITerraformDependable] | None = None,
        count: Number | TerraformCount | None = None,
        provider: TerraformProvider | None = None,
        lifecycle: TerraformResourceLifecycle | None = None,
    ) -> None:
        super().__init__(
            scope,
            id,
            terraform_resource_type=self.TF_TYPE,
            terraform_generator_metadata=GENERATOR_METADATA,
            depends_on=depends_on,
            count=count,
            provider=provider,
            lifecycle=lifecycle,
        )
        self._config = dict(config)


class BpgProvider(_TypedConfig, TerraformProvider):
    """Base of the generated provider class."""

    def __init__(self, scope: Construct, id: str, config: Mapping[str, Any], alias: str | None = None) -> None:
        super().__init__(
            scope,
            id,
            terraform_resource_type=PROVIDER_NAME,
            terraform_generator_metadata=GENERATOR_METADATA,
            terraform_provider_source=PROVIDER_SOURCE,
        )
        if alias is not None:
            self.alias = alias
        self._config = dict(config)

"""Runtime support for the generated L1 classes: rendering typed config to Terraform JSON.

The generated classes (`generated.py`) only declare fields; this module turns a
config of plain values and block dataclasses into the JSON body cdktf writes.
`None` means "not set" and is never rendered.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from cdktf import (
    TerraformProvider,
    TerraformProviderGeneratorMetadata,
    TerraformResource,
)
from constructs import Construct

PROVIDER_NAME = "proxmox"
PROVIDER_SOURCE = "bpg/proxmox"
# idmap needs >= 0.97 (applied on first boot from 0.108); the schema data is 0.111.1.
PROVIDER_VERSION_CONSTRAINT = "~> 0.111"

# Only the constraint: with provider_version set, cdktf pins required_providers to it exactly.
GENERATOR_METADATA = TerraformProviderGeneratorMetadata(
    provider_name=PROVIDER_NAME,
    provider_version_constraint=PROVIDER_VERSION_CONSTRAINT,
)


def render(value: Any) -> Any:
    """Plain JSON for a config value: dataclass blocks become objects, None fields vanish."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: render(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, (list, tuple)):
        return [render(v) for v in value]
    if isinstance(value, Mapping):
        return {k: render(v) for k, v in value.items()}
    return value


def render_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: render(v) for k, v in config.items() if v is not None}


def escape_literal(text: str) -> str:
    """Escape Terraform template sequences so `text` reaches the provider verbatim.

    In Terraform JSON every string is a template: `${` and `%{` would be
    evaluated.  Use for free text such as hook scripts and descriptions.
    """
    return text.replace("${", "$${").replace("%{", "%%{")


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

    def __init__(self, scope: Construct, id: str, config: Mapping[str, Any], **meta: Any) -> None:
        super().__init__(
            scope,
            id,
            terraform_resource_type=self.TF_TYPE,
            terraform_generator_metadata=GENERATOR_METADATA,
            **{k: v for k, v in meta.items() if v is not None},
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

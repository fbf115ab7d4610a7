"""The gRPC provider server (plugin protocol 6, via the `tf` package).

`tf`'s servicer maps plan/apply onto create/read/update/delete with its own, simpler
plan rules; the stand-in needs SDKv2 semantics, so the resource RPCs are replaced here
and work on whole Terraform objects (see `planning.py`).  Everything is logged to
stderr: stdout carries the plugin handshake.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from typing import Any, Callable, Optional

import grpc
from tf.gen import tfplugin_pb2 as pb
from tf.iface import Config, DataSource, Provider, ReadDataContext
from tf.provider import ProviderServicer
from tf.runner import run_provider
from tf.schema import Schema
from tf.types import Unknown
from tf.utils import Diagnostics, _to_attribute_path, read_dynamic_value, to_dynamic_value

from . import container, files, planning, tfschema
from .node import Node, PveError

log = logging.getLogger("pve-standin")

_DEVICE_MODE = re.compile(r"0[0-7]{3}")  # bpg's regex, unanchored like the original


# --- resource registry -----------------------------------------------------------------------------

def _container_validate(config: dict) -> list[tuple[list, str]]:
    errors: list[tuple[list, str]] = []
    for i, entry in enumerate(config.get("idmap") or []):
        kind = entry.get("type")
        if kind not in (None, Unknown, "uid", "gid"):
            errors.append((["idmap", i, "type"], f'expected type to be one of ["uid" "gid"], got {kind}'))
    for i, dev in enumerate(config.get("device_passthrough") or []):
        mode = dev.get("mode")
        if isinstance(mode, str) and not _DEVICE_MODE.search(mode):
            errors.append((["device_passthrough", i, "mode"], f"invalid value for mode ({mode!r} is not an "
                                                              "octal access mode such as \"0660\")"))
    return errors


def _container_plan_hook(impl: Any, prior: Optional[dict], planned: dict, replace: list) -> None:
    planned["description"] = container.normalize_description(planned.get("description"))
    if prior is None:
        return
    if (prior.get("tags") is not None and isinstance(planned.get("tags"), list)
            and sorted(prior["tags"]) == sorted(planned["tags"])):
        planned["tags"] = prior["tags"]  # DiffSuppressFunc: order-insensitive
    vm_id = planned.get("vm_id")
    if vm_id not in (None, Unknown) and str(vm_id) != str(prior.get("id")):
        replace.append(["vm_id"])  # CustomizeDiff
    before, after = prior.get("disk") or [], planned.get("disk") or []
    if before and after and isinstance(after[0].get("size"), (int, float)) and \
            isinstance(before[0].get("size"), (int, float)) and after[0]["size"] < before[0]["size"]:
        replace.append(["disk", 0, "size"])  # CustomizeDiff: disks only grow


def _download_plan_hook(impl: Any, prior: Optional[dict], planned: dict, replace: list) -> None:
    if impl.plan_size(prior, planned):
        planned["size"] = Unknown
        replace.append(["size"])


class ResourceType:
    def __init__(self, type_name: str, factory: Callable[[Node], Any],
                 validate: Callable[[dict], list] | None = None, plan_hook: Callable | None = None):
        self.type_name = type_name
        self.factory = factory
        self.block = tfschema.resource_block_spec(type_name)
        self.extras = tfschema.resource_extras(type_name)
        self.framework = tfschema.is_framework(type_name)
        self._validate = validate
        self.plan_hook = plan_hook

    def validate(self, impl: Any, config: dict) -> list[tuple[list, str]]:
        errors = list(self._validate(config)) if self._validate else []
        if hasattr(impl, "validate"):
            errors.extend(impl.validate(config))
        return errors


def resource_types() -> dict[str, ResourceType]:
    types = [
        ResourceType(container.TYPE, container.Container, _container_validate, _container_plan_hook),
        ResourceType(files.FILE_TYPE, files.File),
    ] + [ResourceType(t, files.DownloadFile, plan_hook=_download_plan_hook) for t in files.DOWNLOAD_TYPES]
    return {t.type_name: t for t in types}


# --- data sources (minimal, read-only views of the node) --------------------------------------------

class NodesDataSource(DataSource):
    def __init__(self, provider: Any):
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "proxmox_virtual_environment_nodes"

    @classmethod
    def get_schema(cls) -> Schema:
        return tfschema.data_source_schema(cls.get_name())

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        pass

    def read(self, ctx: ReadDataContext, config: Config) -> Optional[dict]:
        node = Node.from_env()
        values = {"names": [node.name], "online": [True], "cpu_count": [2], "cpu_utilization": [0.0],
                  "memory_available": [8 << 30], "memory_used": [1 << 30], "ssl_fingerprints": [""],
                  "support_levels": [""], "uptime": [1]}
        block = tfschema.data_source_block_spec(self.get_name())
        return planning.complete(block, {**config, **values, "id": "nodes"})


class ContainerDataSource(NodesDataSource):
    @classmethod
    def get_name(cls) -> str:
        return "proxmox_virtual_environment_container"

    def read(self, ctx: ReadDataContext, config: Config) -> Optional[dict]:
        node = Node.from_env()
        node.check_node(config["node_name"])
        vmid = int(config["vm_id"])
        conf = node.read_conf(vmid)
        if conf is None:
            ctx.diagnostics.add_error(f"CT {vmid} does not exist on node '{node.name}'")
            return None
        tags = [t for t in conf.options.get("tags", "").split(";") if t]
        values = {"id": str(vmid), "name": conf.options.get("hostname", ""), "tags": tags,
                  "template": conf.options.get("template") == "1", "status": node.status(vmid)}
        return planning.complete(tfschema.data_source_block_spec(self.get_name()), {**config, **values})


# --- provider ----------------------------------------------------------------------------------------

class StandinProvider(Provider):
    def __init__(self) -> None:
        self.types = resource_types()

    def get_model_prefix(self) -> str:
        return ""

    def full_name(self) -> str:
        return tfschema.PROVIDER_ADDRESS

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return tfschema.provider_schema()

    def validate_config(self, diags: Diagnostics, config: Config) -> None:
        pass

    def configure_provider(self, diags: Diagnostics, config: Config) -> None:
        # bpg's configure makes no API calls; secrets in the config are never logged.
        log.debug("configured (endpoint %s)", (config or {}).get("endpoint"))

    def get_data_sources(self) -> list:
        return [NodesDataSource, ContainerDataSource]

    def get_resources(self) -> list:
        def make(type_name: str) -> type:
            return type(type_name, (), {
                "get_name": classmethod(lambda cls: type_name),
                "get_schema": classmethod(lambda cls: tfschema.resource_schema(type_name)),
            })
        return [make(t) for t in self.types]


def _diag_errors(diags: Diagnostics, errors: list[tuple[list, str]], summary: str) -> None:
    for path, message in errors:
        diags.add_error(summary, message, path=[(p,) if isinstance(p, int) else p for p in path])


def _path_pb(path: list) -> pb.AttributePath:
    return _to_attribute_path([(p,) if isinstance(p, int) else p for p in path])


class StandinServicer(ProviderServicer):
    app: StandinProvider

    def _type(self, name: str) -> ResourceType:
        return self.app.types[name]

    def _fail(self, diags: Diagnostics, type_name: str, exc: Exception) -> None:
        if isinstance(exc, PveError):
            diags.add_error(f"{type_name}: {exc}", str(exc))
        else:
            log.exception("stand-in provider bug")
            diags.add_error(f"{type_name}: stand-in provider error: {type(exc).__name__}: {exc}", "see stderr")

    def ValidateResourceConfig(self, request: Any, context: grpc.ServicerContext) -> Any:
        rt = self._type(request.type_name)
        diags = Diagnostics()
        config = read_dynamic_value(request.config) or {}
        try:
            _diag_errors(diags, rt.validate(rt.factory(Node(".")), config), f"invalid {request.type_name}")
        except Exception as exc:  # noqa: BLE001 - reported as a diagnostic
            self._fail(diags, request.type_name, exc)
        return pb.ValidateResourceConfig.Response(diagnostics=diags.to_pb())

    def UpgradeResourceState(self, request: Any, context: grpc.ServicerContext) -> Any:
        rt = self._type(request.type_name)
        state = json.loads(request.raw_state.json) if request.raw_state.json else None
        return pb.UpgradeResourceState.Response(upgraded_state=to_dynamic_value(planning.complete(rt.block, state)))

    def ReadResource(self, request: Any, context: grpc.ServicerContext) -> Any:
        rt = self._type(request.type_name)
        diags = Diagnostics()
        current = read_dynamic_value(request.current_state)
        new_state = current
        try:
            impl = rt.factory(Node.from_env())
            new_state = planning.complete(rt.block, impl.read(current))
            for warning in getattr(impl, "warnings", []):
                diags.add_warning(warning)
            if new_state is None:
                log.info("%s %s is gone from the node", request.type_name, current.get("id"))
        except Exception as exc:  # noqa: BLE001
            self._fail(diags, request.type_name, exc)
        return pb.ReadResource.Response(new_state=to_dynamic_value(new_state), diagnostics=diags.to_pb(),
                                        private=request.private)

    def PlanResourceChange(self, request: Any, context: grpc.ServicerContext) -> Any:
        rt = self._type(request.type_name)
        diags = Diagnostics()
        prior = read_dynamic_value(request.prior_state)
        proposed = read_dynamic_value(request.proposed_new_state)
        config = read_dynamic_value(request.config)
        try:
            result = planning.plan(rt.block, rt.extras, prior, proposed, config)
            if result.planned is not None and rt.plan_hook:
                rt.plan_hook(rt.factory(Node.from_env()), prior, result.planned, result.requires_replace)
        except Exception as exc:  # noqa: BLE001
            self._fail(diags, request.type_name, exc)
            return pb.PlanResourceChange.Response(diagnostics=diags.to_pb())
        return pb.PlanResourceChange.Response(
            planned_state=to_dynamic_value(result.planned),
            requires_replace=[_path_pb(p) for p in result.requires_replace],
            diagnostics=diags.to_pb(),
            legacy_type_system=not rt.framework,
        )

    def ApplyResourceChange(self, request: Any, context: grpc.ServicerContext) -> Any:
        rt = self._type(request.type_name)
        diags = Diagnostics()
        prior = read_dynamic_value(request.prior_state)
        planned = read_dynamic_value(request.planned_state)
        new_state = prior
        try:
            impl = rt.factory(Node.from_env())
            if planned is None:
                impl.delete(prior)
                new_state = None
            elif prior is None:
                new_state = impl.create(planned)
            else:
                new_state = impl.update(prior, planned)
            new_state = planning.complete(rt.block, new_state)
        except Exception as exc:  # noqa: BLE001
            self._fail(diags, request.type_name, exc)
        return pb.ApplyResourceChange.Response(new_state=to_dynamic_value(new_state), diagnostics=diags.to_pb(),
                                               legacy_type_system=not rt.framework)

    def ImportResourceState(self, request: Any, context: grpc.ServicerContext) -> Any:
        diags = Diagnostics().add_error(f"{request.type_name}: import is not modelled by the stand-in provider")
        return pb.ImportResourceState.Response(diagnostics=diags.to_pb())


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("PVE_STANDIN_LOG", "WARNING").upper(),
                        format="[pve-standin] %(levelname)s %(message)s")
    import tf.provider as tf_provider

    tf_provider.ProviderServicer = StandinServicer  # run_provider instantiates it by this name
    run_provider(StandinProvider(), argv or sys.argv)

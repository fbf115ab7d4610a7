"""The kept bpg/proxmox schema, read from the real provider built by `make tools`.

    python -m pve_gpu_lxc_testing.provider_schema --write   # rewrite the kept file (make schema)
    python -m pve_gpu_lxc_testing.provider_schema --check   # exit 1 and summarise when it differs

Runs `<cli> init` and `<cli> providers schema -json` in a temporary directory whose only
configuration requires `bpg/proxmox` PROVIDER_VERSION, with `TF_CLI_CONFIG_FILE=.tools/terraformrc`
(the filesystem mirror `scripts/build-go-tools.sh` lays out; nothing is downloaded).  The CLI is
`.tools/bin/tofu` (pinned, always built by `make tools`) unless `--cli terraform` or a path is
given; both print the same schema for the same provider binary.

The output is filtered to what the library uses: the provider block, the resource types
and the data sources the library emits, which the L1 layer is generated for
(`pve_gpu_lxc.l1.codegen.RESOURCES` and `DATA_SOURCES`); everything else the CLI prints (other
resources and data sources, functions, ephemeral resources, ...) is dropped.  The layout is
the CLI's, minus what is dropped: `{"format_version", "provider_schemas":
{"registry.terraform.io/bpg/proxmox": {"data_source_schemas", "provider", "resource_schemas"}}}`,
keys sorted, one-space indent, so a provider upgrade shows up as a readable diff.
Dev/test tooling: not part of the shipped package.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pve_gpu_lxc.l1.codegen import DATA_SOURCES, RESOURCES
from pve_gpu_lxc.l1.schema import PROVIDER_SOURCE, PROVIDER_VERSION, SCHEMA_FILE

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"
TERRAFORMRC = TOOLS / "terraformrc"
DEFAULT_CLI = TOOLS / "bin" / "tofu"
KEPT_FILE = ROOT / "constructs" / "pve_gpu_lxc" / "l1" / "schema_data" / SCHEMA_FILE
BUILD_COMMAND = "make tools  (= bash scripts/build-go-tools.sh)"
# the resource types the library emits, in the order codegen generates them
RESOURCE_TYPES: tuple[str, ...] = tuple(RESOURCES)
# the data sources the library emits (the ownership guard's listing)
DATA_SOURCE_TYPES: tuple[str, ...] = tuple(DATA_SOURCES)
# the requirement of the throw-away configuration: the exact version, the registry the key names
CONFIG = {
    "terraform": {
        "required_providers": {"proxmox": {"source": PROVIDER_SOURCE, "version": PROVIDER_VERSION}}
    }
}
MAX_DIFF_LINES = 40


class ProviderSchemaError(Exception):
    """The schema could not be read from the provider; str() says why and what to run."""


# --- pure parts ------------------------------------------------------------------------------


def filter_schema(full: Mapping[str, Any], resource_types: Sequence[str] = RESOURCE_TYPES,
                  data_source_types: Sequence[str] = DATA_SOURCE_TYPES) -> dict[str, Any]:
    """The part of `providers schema -json` output the library uses, in the kept file's layout."""
    try:
        entry = full["provider_schemas"][PROVIDER_SOURCE]
    except KeyError:
        found = ", ".join(sorted(full.get("provider_schemas", {}))) or "none"
        raise ProviderSchemaError(f"the CLI reported no {PROVIDER_SOURCE} schema (providers: {found})") from None
    resources = entry.get("resource_schemas", {})
    data_sources = entry.get("data_source_schemas", {})
    missing = [f"resource type {t}" for t in resource_types if t not in resources]
    missing += [f"data source {t}" for t in data_source_types if t not in data_sources]
    if missing:
        raise ProviderSchemaError(
            f"bpg/proxmox {PROVIDER_VERSION} has no {', '.join(missing)} "
            "(named by pve_gpu_lxc.l1.codegen.RESOURCES and DATA_SOURCES)"
        )
    kept: dict[str, Any] = {
        "provider": entry["provider"],
        "resource_schemas": {t: resources[t] for t in sorted(resource_types)},
    }
    if data_source_types:
        kept["data_source_schemas"] = {t: data_sources[t] for t in sorted(data_source_types)}
    return {"format_version": full.get("format_version", "1.0"), "provider_schemas": {PROVIDER_SOURCE: kept}}


def render(doc: Mapping[str, Any]) -> str:
    """The kept file's text: sorted keys, one-space indent, trailing newline."""
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _short(value: Any, limit: int = 70) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _walk_diff(kept: Any, fresh: Any, path: str) -> Iterator[str]:
    if isinstance(kept, dict) and isinstance(fresh, dict):
        for key in sorted(set(kept) | set(fresh)):
            sub = f"{path}.{key}" if path else key
            if key not in fresh:
                yield f"- {sub}: only in the kept file"
            elif key not in kept:
                yield f"+ {sub}: only in the provider ({_short(fresh[key])})"
            else:
                yield from _walk_diff(kept[key], fresh[key], sub)
    elif kept != fresh:
        yield f"~ {path}: kept {_short(kept)}, provider {_short(fresh)}"


def diff_summary(kept: Mapping[str, Any], fresh: Mapping[str, Any], limit: int = MAX_DIFF_LINES) -> list[str]:
    """One line per differing path (`-` only kept, `+` only in the provider, `~` changed)."""
    # shorter paths: drop the constant prefix
    def inner(doc: Mapping[str, Any]) -> Any:
        return doc.get("provider_schemas", {}).get(PROVIDER_SOURCE, doc)

    lines = list(_walk_diff({"format_version": kept.get("format_version")},
                            {"format_version": fresh.get("format_version")}, ""))
    lines += [
        line.replace("resource_schemas.", "", 1).replace("data_source_schemas.", "data.", 1).replace(".block.", ".", 1)
        for line in _walk_diff(inner(kept), inner(fresh), "")
    ]
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more"]
    return lines


# --- running the CLI ---------------------------------------------------------------------------


def _resolve_cli(cli: str | os.PathLike[str] | None) -> str:
    if cli is None:
        if not DEFAULT_CLI.is_file():
            raise ProviderSchemaError(f"{DEFAULT_CLI} is missing: build the tools with `{BUILD_COMMAND}`")
        return str(DEFAULT_CLI)
    found = shutil.which(str(cli))
    if found is None:
        raise ProviderSchemaError(f"{cli!r} is neither an executable path nor on PATH")
    return found


def provider_schema(cli: str | os.PathLike[str] | None = None, *, timeout: float = 300) -> dict[str, Any]:
    """`providers schema -json` of bpg/proxmox PROVIDER_VERSION from the local mirror, unfiltered."""
    binary = _resolve_cli(cli)
    if not TERRAFORMRC.is_file():
        raise ProviderSchemaError(f"{TERRAFORMRC} is missing: build the tools with `{BUILD_COMMAND}`")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "TOFU_"))}
    env.update(TF_CLI_CONFIG_FILE=str(TERRAFORMRC), CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1")
    with tempfile.TemporaryDirectory(prefix="bpg-schema-") as tmp:
        work = Path(tmp)
        (work / "main.tf.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
        for args in (["init", "-input=false", "-no-color", "-backend=false"], ["providers", "schema", "-json"]):
            try:
                proc = subprocess.run([binary, *args], cwd=work, env=env, capture_output=True, text=True,
                                      timeout=timeout, check=False)
            except (OSError, subprocess.TimeoutExpired) as err:
                raise ProviderSchemaError(f"{binary} {' '.join(args)}: {err}") from err
            if proc.returncode != 0:
                output = "\n".join(ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip())
                raise ProviderSchemaError(
                    f"{binary} {' '.join(args)} exited {proc.returncode} (is the mirror complete? `{BUILD_COMMAND}`):\n"
                    f"{output[-2000:]}"
                )
    try:
        schema: dict[str, Any] = json.loads(proc.stdout)
    except ValueError as err:
        raise ProviderSchemaError(f"{binary} providers schema -json printed no JSON: {err}") from err
    return schema


def kept_schema(path: Path = KEPT_FILE) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pve_gpu_lxc_testing.provider_schema",
        description=f"Write or check {KEPT_FILE.relative_to(ROOT)} against the bpg/proxmox provider built in .tools/.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the kept file")
    action.add_argument("--check", action="store_true", help="exit 1 with a summary when the kept file differs")
    parser.add_argument("--cli", metavar="BINARY",
                        help="terraform or tofu to run (name on PATH or path; default: .tools/bin/tofu)")
    parser.add_argument("--file", type=Path, default=KEPT_FILE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        fresh = filter_schema(provider_schema(args.cli))
    except ProviderSchemaError as err:
        print(f"provider_schema: error: {err}", file=sys.stderr)
        return 2
    text = render(fresh)
    if args.write:
        args.file.write_text(text)
        print(f"wrote {args.file}", file=sys.stderr)
        return 0
    current = args.file.read_text() if args.file.is_file() else ""
    if current == text:
        return 0
    try:
        lines = diff_summary(json.loads(current), fresh) if current else [f"- {args.file}: missing or empty"]
    except ValueError as err:
        lines = [f"- {args.file}: not JSON ({err})"]
    if not lines:
        lines = ["(same content, different formatting)"]
    print(f"{args.file} differs from bpg/proxmox {PROVIDER_VERSION}'s own schema:", file=sys.stderr)
    print("\n".join(f"  {ln}" for ln in lines), file=sys.stderr)
    print("run: make schema  (python -m pve_gpu_lxc_testing.provider_schema --write, then the L1 codegen)",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())

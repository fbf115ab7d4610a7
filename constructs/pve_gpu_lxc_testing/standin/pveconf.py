"""Read and write Proxmox VE container config files (`/etc/pve/lxc/<vmid>.conf`).

Pure: strings in, strings out.  Mirrors pve-container's `parse_pct_config` /
`write_pct_config`: the description as `#` comment lines (text URI-escaped like
`PVE::Tools::encode_text`), then `key: value` lines sorted by key, then the raw
`lxc.*` lines in their stored order.  Anything from the first `[section]` header
on (pending changes, snapshots) is kept verbatim but not interpreted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

_KEY_LINE = re.compile(r"^([a-z][a-z0-9_.\-]*):\s*(.*?)\s*$")
# encode_text escapes everything outside 0x20-0x39 and 0x3b-0x7e (so ':' and control chars).
_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if c != 0x3A)


class ConfError(ValueError):
    """A config file line PVE itself would refuse to parse."""


@dataclass
class PveConf:
    description: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    lxc: list[tuple[str, str]] = field(default_factory=list)
    tail: str = ""  # `[pve:pending]` / snapshot sections, verbatim

    def lxc_values(self, key: str) -> list[str]:
        return [v for k, v in self.lxc if k == key]

    def replace_lxc(self, key: str, values: list[str]) -> None:
        """Drop every `key` line and append `values` at the end (bpg's `sed -i` + `tee -a`)."""
        self.lxc = [(k, v) for k, v in self.lxc if k != key] + [(key, v) for v in values]


def parse(text: str) -> PveConf:
    conf = PveConf()
    lines = text.split("\n")
    description: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("["):
            conf.tail = "\n".join(lines[i:])
            break
        if not line.strip():
            continue
        if line.startswith("#"):
            description.append(unquote(line[1:]))
            continue
        match = _KEY_LINE.match(line)
        if not match:
            raise ConfError(f"unable to parse config line {i + 1}: {line!r} (expected 'key: value')")
        key, value = match.groups()
        if key.startswith("lxc."):
            conf.lxc.append((key, value))
        else:
            conf.options[key] = value
    if description:
        conf.description = "".join(f"{d}\n" for d in description)
    return conf


def render(conf: PveConf) -> str:
    out: list[str] = []
    lines = (conf.description or "").split("\n")
    while lines and not lines[-1]:  # perl's split(/\n/) drops trailing empty fields only
        lines.pop()
    out.extend("#" + quote(line, safe=_SAFE) for line in lines)
    for key in sorted(conf.options):
        value = conf.options[key]
        if "\n" in value:
            raise ConfError(f"detected invalid newline inside property {key!r}")
        out.append(f"{key}: {value}")
    out.extend(f"{k}: {v}" for k, v in conf.lxc)
    text = "".join(f"{line}\n" for line in out)
    if conf.tail:
        text += "\n" + conf.tail.lstrip("\n")
    return text


def parse_property_string(value: str, default_key: str | None = None) -> dict[str, str]:
    """`a=1,b=2` (and PVE's `volume,size=8G` form with a default key) as a dict."""
    result: dict[str, str] = {}
    for part in value.split(","):
        if not part:
            continue
        if "=" in part:
            k, v = part.split("=", 1)
            result[k] = v
        elif default_key is not None and default_key not in result:
            result[default_key] = part
        else:
            raise ConfError(f"cannot parse property string {value!r}: {part!r} has no '='")
    return result


def print_property_string(pairs: list[tuple[str, str]]) -> str:
    return ",".join(f"{k}={v}" for k, v in pairs)

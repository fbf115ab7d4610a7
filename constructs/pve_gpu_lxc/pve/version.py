"""The Proxmox VE release assumed when nothing says which one a node runs.

bpg/proxmox asks `GET /version` and changes one create parameter on it (a NIC's
`host-managed`, 9.1 and later); `explain` and the request builder assume this release when
neither the command line nor the host facts name the node's.  A module of its own so the
command-line parser can show it without loading the request builder.
"""

from __future__ import annotations

DEFAULT_PVE_VERSION: tuple[int, int] = (9, 1)

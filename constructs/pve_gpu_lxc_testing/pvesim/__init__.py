"""A simulated Proxmox VE node for the real bpg/proxmox provider (test infrastructure, not product).

`Simulator(root, state_dir, node=, facts=, tokens=, ssh=)` lays out the node's files under
`root` (`node.NodeFiles`: `etc/pve/lxc/<vmid>.conf` in real PVE syntax, `etc/pve/storage.cfg`,
storage directories, `/dev` nodes from host facts), serves PVE's HTTPS API on 127.0.0.1
(`server.ApiServer` over `api.PveApi`, whose modules follow PVE's: see api.py) and, with
`ssh=True`, Debian's sshd chrooted into `root` (`ssh.SshServer`).
The API reads the files on every request: a hand edit of a conf file is an out-of-band change.
`python -m pve_gpu_lxc_testing.pvesim --root DIR` runs one and prints `export` lines.
"""

from .sim import Simulator

__all__ = ["Simulator"]

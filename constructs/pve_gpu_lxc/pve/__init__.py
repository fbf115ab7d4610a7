"""What a Proxmox VE node holds, as pure functions (no I/O, no engine).

conf    PVE's container config files (`/etc/pve/lxc/<vmid>.conf`): parse and write, property
        strings and their schemas (pve-container Config.pm); the simulated node writes its
        files with this module too, so `explain` and the tests' node share one writer
create   what a create request from bpg/proxmox 0.111.1 leaves in that file: the request bpg
        builds from a synthesized container resource, and PVE's create_vm applied to it
version  the PVE release assumed when neither the command line nor the host facts name one
"""

"""Typed CDKTF constructs for GPU-enabled Proxmox LXC containers (bpg/proxmox)."""

"""End-to-end harness: real terraform/tofu and cdktf-cli, the real bpg/proxmox provider, the simulated node."""

"""What a Proxmox VE node holds, and the stack document that asks bpg for it, as pure functions
(no engine; no I/O but `synthesized.load`).

synthesized  the synthesized Terraform JSON (cdk.tf.json), read in one place: the bpg type names,
        Terraform's template escapes, file references, the per-container records
        (ExpectedContainer) and the provider settings; check, explain, pve_gpu_lxc.testing and
        the test harnesses read stacks with it, the constructs and the L1 generator take its
        names and its escaping
conf    PVE's container config files (`/etc/pve/lxc/<vmid>.conf`): parse and write, property
        strings and their schemas (pve-container Config.pm); the simulated node writes its
        files with this module too, so `explain` and the tests' node share one writer
bpg     the create request bpg/proxmox 0.111.1 sends for a synthesized container resource
create   what a create request from bpg/proxmox 0.111.1 leaves in that file: the request bpg
        builds from a synthesized container resource, and PVE's create_vm applied to it
oci     what the create makes of an OCI image (Create.pm restore_oci_archive, resolve_oci_user,
        cmd2string) from its config as the host facts record it, and what a pre-start hookscript
        writing the declared entrypoint and env leaves at the first start
version  the PVE release assumed when neither the command line nor the host facts name one
"""

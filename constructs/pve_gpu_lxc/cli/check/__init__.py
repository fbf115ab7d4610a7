"""`pve-gpu-lxc check`: read-only live checks of GPU containers against the synthesized stacks.

Terraform only sees what bpg/proxmox reads back.  This package asks the node itself -- one
Proxmox API request per container plus one SSH session per node -- and compares what it
finds with what the stacks synthesized (devN, raw lxc.idmap, subuid/subgid, hookscript
content and mode, device nodes against the host facts, and inside running containers the
render/video GIDs and the passed nodes; for NVIDIA the host driver against the pinned one).

What the synthesized cdk.tf.json promises, per container, is read by pve/synthesized.py (the
one reader of the document, shared with explain, pve_gpu_lxc.testing and the test harnesses).

Modules, one concept each (pure ones import no cdktf and do no I/O):

    nodeconf.py   (pure) what the API's container config says (devN, lxc.idmap, hookscript)
    probe.py      (pure) the static read-only sh probe, its validated input and its parser
    compare.py    (pure) expected against found: the findings, each with its fix
    findings.py   (pure) Finding/ContainerReport, text lines, the JSON report, the exit code
                  (by the one policy of cli/exit_codes.py)
    api.py        (I/O)  the Proxmox VE API client (ticket or token; GET config only)
    ssh.py        (I/O)  one OpenSSH session per node running the probe
    runner.py     (I/O)  the command: stacks, facts, API, SSH, compare, report
"""

from .findings import Finding

__all__ = ["Finding"]

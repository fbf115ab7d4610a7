"""The cdktf layer: constructs that map the pure model to L1 resources, and nothing else.

container   GpuContainer: props -> model -> the app's admission -> L1 (one function, mapping.py)
mapping     the one mapping from a ContainerModel to bpg resources
template    the stack's shared download/upload resource for a Template
hookscript  HookScript: the hookscript snippet on the node
provider    ProxmoxProvider: the bpg provider block, registered as its stack's provider
backend     the state backend the environment chooses
app_state   the app-wide state, kept as one child of the App (never in module globals)

No rule lives here: every check is in `model/` (per container and app-wide).  Every engine
name comes from `pve_gpu_lxc.engine`.  (Named `cdk`, never `constructs`, which would
shadow the constructs library.)
"""

"""A stand-in for the bpg/proxmox Terraform provider (test infrastructure, not product).

A Python provider (PyPI `tf`, plugin protocol 6) whose schema is generated at run time
from the product's schema data (`pve_gpu_lxc.l1.schema`) and whose "Proxmox" is a
directory: `<root>/etc/pve/lxc/<vmid>.conf` in real PVE syntax, `local` storage under
`<root>/var/lib/vz/`.  Behaviour, including bpg's drift blind spots:
docs/standin-provider.md.

Modules: `pveconf` (pure conf reader/writer), `planning` (pure SDKv2 plan rules),
`container` / `files` (bpg's mapping and CRUD), `node` (the directory), `tfschema`,
`server` (gRPC), `install` (filesystem mirror, reattach), `harness` + `fixtures` (tests).

Reusable API:

    from pve_gpu_lxc_testing.standin.harness import standin_env, synth_app, stack_dir, copy_stack

    env = standin_env(tmp_path)              # or reattach=True: one fast long-lived provider
    cli_config, node_root, env_vars = env    # TF_CLI_CONFIG_FILE, node dir, env for subprocesses
    env.seed_volume("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst")  # PVE needs the template
    stack = env.cdktf_deploy("intel-jellyfin")   # real cdktf-cli in a scratch project (never the
                                                 # repo's cdktf.out or state); returns the stack dir
    env.apply(stack); assert env.plan(stack) == 0      # terraform init/apply, plan -detailed-exitcode
    drift = env.drift(stack)                 # plan -refresh-only + show -json: .exit_code,
                                             # .resource_drift, .changed_attributes(address)
    out = synth_app(tmp_path / "out")        # main.py with CDKTF_OUTDIR (no cdktf-cli)
    dir_copy = copy_stack(stack_dir(out, "nvidia-ollama"), tmp_path / "no")
    env.conf_text(210); env.terraform(stack, "show", "-json"); env.cdktf(env.project, "diff", ...)
    env.close()                              # stops the reattached provider (by PID)

Caveat: Terraform 1.10/1.11 exits 2 from `plan -refresh-only -detailed-exitcode` even
without drift; judge drift by `resource_drift` (see docs/standin-provider.md).

Fixtures (`from pve_gpu_lxc_testing.standin.fixtures import standin, standin_reattached,
synthesized`) wrap the same calls.  Run the provider by hand with
`PVE_STANDIN_ROOT=<dir> python -m pve_gpu_lxc_testing.standin [--dev]`.
"""

#!/usr/bin/env bash
# GitOps entry point for any CI (GitHub Actions, GitLab, Gitea, Woodpecker, Jenkins ...).
#
#   ci/gitops.sh pr       setup, test, then plan every stack (merge request / pull request)
#   ci/gitops.sh deploy   setup, plan every stack, apply exactly those saved plans (main)
#   ci/gitops.sh drift    setup, then fail (exit 2) when the nodes drifted from the state (schedule)
#
# Single steps, for pipelines that split them into jobs: setup | test | plan | apply | check-drift.
#
# Credentials come only from the environment, i.e. the CI's secret store:
#   PROXMOX_VE_ENDPOINT, PROXMOX_VE_USERNAME, PROXMOX_VE_PASSWORD (or PROXMOX_VE_API_TOKEN),
#   PROXMOX_VE_SSH_USERNAME, PROXMOX_VE_SSH_PRIVATE_KEY (loaded into a throw-away ssh-agent),
#   PVE_GPU_LXC_BACKEND=pg and PG_CONN_STR for shared, locked state (a CI runner's disk is
#   not a place to keep state).
# Other knobs: ARTIFACTS (default artifacts/), ALLOW_REPLACE=1 (accept a plan that replaces or
# destroys a GPU container), LOCK_TIMEOUT (default 120s: wait for a concurrent run's lock),
# TERRAFORM_BINARY_NAME (terraform or tofu, a name on PATH or a path; default: terraform on
# PATH, else tofu on PATH, as `pve-gpu-lxc drift` chooses).
# Exit codes: 0 ok; 1 error; 2 drift (drift) ; 3 destructive plan refused (pr, deploy).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
OUTDIR=${CDKTF_OUTDIR:-cdktf.out}
ARTIFACTS=${ARTIFACTS:-artifacts}
case $ARTIFACTS in /*) ;; *) ARTIFACTS=$PWD/$ARTIFACTS ;; esac
LOCK_TIMEOUT=${LOCK_TIMEOUT:-120s}
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CHECKPOINT_DISABLE=1
export CDKTF_DISABLE_PLUGIN_CACHE_ENV=1 TF_IN_AUTOMATION=1

log() { printf '==> %s\n' "$*" >&2; }

drift_cmd() { "$PY" -m pve_gpu_lxc drift --lock-timeout "$LOCK_TIMEOUT" "$@"; }

# The Terraform or OpenTofu binary, chosen as the drift command chooses it (find_terraform in
# pve_gpu_lxc/drift.py): $TERRAFORM_BINARY_NAME, else terraform on PATH, else tofu on PATH.
terraform_binary() {
  local name=${TERRAFORM_BINARY_NAME:-} found
  name=${name#"${name%%[![:space:]]*}"}  # trimmed, as drift does
  name=${name%"${name##*[![:space:]]}"}
  if [ -n "$name" ]; then
    found=$(type -P -- "$name") \
      || { echo "gitops: TERRAFORM_BINARY_NAME=$name: not an executable file nor on PATH" >&2; exit 1; }
  else
    found=$(type -P terraform) || found=$(type -P tofu) \
      || { echo "gitops: neither terraform nor tofu is on PATH: install one or set TERRAFORM_BINARY_NAME" >&2; exit 1; }
  fi
  printf '%s\n' "$found"
}

# bpg needs SSH for idmap lines and hook-script uploads; the stacks use an agent.
start_ssh_agent() {
  if [ -n "${PROXMOX_VE_SSH_PRIVATE_KEY:-}" ] && [ -z "${SSH_AUTH_SOCK:-}" ]; then
    eval "$(ssh-agent -s)" >/dev/null
    trap 'ssh-agent -k >/dev/null 2>&1 || true' EXIT
    printf '%s\n' "$PROXMOX_VE_SSH_PRIVATE_KEY" | ssh-add - >/dev/null 2>&1 \
      || { echo "gitops: PROXMOX_VE_SSH_PRIVATE_KEY is not a usable private key" >&2; exit 1; }
  fi
}

cmd_setup() { log "setup"; make setup; }

cmd_test() { log "test"; make test; }

# Synthesize and plan every stack; plans and the report land in $ARTIFACTS.
# Pending changes are the point of a pull request: only errors (1) and refused
# destructive plans (3) fail this step.
cmd_plan() {
  log "plan"
  start_ssh_agent
  rm -rf "$ARTIFACTS/plans"
  mkdir -p "$ARTIFACTS/plans"
  local args=(--plan --synth --plan-dir "$ARTIFACTS/plans" --json "$ARTIFACTS/plan.json")
  [ "${ALLOW_REPLACE:-0}" = 1 ] && args+=(--allow-replace)
  local rc=0
  drift_cmd "${args[@]}" | tee "$ARTIFACTS/plan.txt" || rc=$?  # pipefail: drift's code
  case $rc in
    0 | 2) return 0 ;;
    *) return "$rc" ;;
  esac
}

# Apply the plans cmd_plan saved, stack by stack, and only where something changes.
# Terraform refuses a saved plan whose state changed since (no silent re-plan).
cmd_apply() {
  log "apply"
  start_ssh_agent
  [ -f "$ARTIFACTS/plan.json" ] || { echo "gitops: no $ARTIFACTS/plan.json: run 'ci/gitops.sh plan' first" >&2; exit 1; }
  local stacks stack plan_file terraform
  stacks=$("$PY" - "$ARTIFACTS/plan.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
if doc["exit_code"] not in (0, 2):
    sys.exit(f"gitops: the plan did not succeed (exit {doc['exit_code']}); refusing to apply")
for s in doc["stacks"]:
    if s["status"] in ("changes", "destructive"):
        print(s["stack"])
EOF
  )
  if [ -z "$stacks" ]; then
    log "nothing to apply: every stack matches its configuration"
    return 0
  fi
  terraform=$(terraform_binary)
  for stack in $stacks; do
    plan_file="$ARTIFACTS/plans/$stack.tfplan"
    log "apply $stack ($terraform)"
    "$terraform" -chdir="$OUTDIR/stacks/$stack" apply -input=false -no-color \
      -lock-timeout="$LOCK_TIMEOUT" "$plan_file"
  done
}

# Fail when any stack drifted; the report is kept for the pipeline to show or upload.
cmd_check_drift() {
  log "drift"
  start_ssh_agent
  mkdir -p "$ARTIFACTS"
  local rc=0
  drift_cmd --json "$ARTIFACTS/drift.json" | tee "$ARTIFACTS/drift.txt" || rc=$?
  return "$rc"
}

usage() {
  # the comment block at the top of this file
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit 1
}

[ $# -eq 1 ] || usage
case $1 in
  pr) cmd_setup; cmd_test; cmd_plan ;;
  deploy) cmd_setup; cmd_plan; cmd_apply ;;
  drift) cmd_setup; cmd_check_drift ;;
  setup) cmd_setup ;;
  test) cmd_test ;;
  plan) cmd_plan ;;
  apply) cmd_apply ;;
  check-drift) cmd_check_drift ;;
  *) usage ;;
esac

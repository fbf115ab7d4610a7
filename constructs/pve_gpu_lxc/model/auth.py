"""Which API authentication the bpg provider will use, and what GPU containers need (pure).

bpg reads its credentials from PROXMOX_VE_* variables at plan/apply time; this
module only looks at WHICH are set (never stores or prints a secret value) so
synthesis can fail early with the fix, instead of apply failing with a 403/500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

AuthKind = Literal["api-token", "ticket", "password", "none"]
ROOT_PAM = "root@pam"


@dataclass(frozen=True)
class ProviderAuth:
    kind: AuthKind
    username: str | None = None  # the API user (not secret), for password auth


def detect_auth(environ: Mapping[str, str]) -> ProviderAuth:
    """bpg's precedence: API token > ticket > username/password."""
    if environ.get("PROXMOX_VE_API_TOKEN"):
        return ProviderAuth("api-token", environ["PROXMOX_VE_API_TOKEN"].split("!", 1)[0])
    if environ.get("PROXMOX_VE_AUTH_TICKET"):
        return ProviderAuth("ticket")
    if environ.get("PROXMOX_VE_USERNAME") or environ.get("PROXMOX_VE_PASSWORD"):
        return ProviderAuth("password", environ.get("PROXMOX_VE_USERNAME"))
    return ProviderAuth("none")


def root_pam_problem(auth: ProviderAuth, needs: Sequence[str]) -> str | None:
    """Why this auth cannot set `needs` (devN, hookscript: root@pam only), or None."""
    if not needs:
        return None
    what = " and ".join(needs)
    fix = (
        "Fix: unset PROXMOX_VE_API_TOKEN and set PROXMOX_VE_USERNAME=root@pam and PROXMOX_VE_PASSWORD "
        "(from your secret store) for this stack"
    )
    if auth.kind == "api-token":
        return (
            f"it sets {what}, which Proxmox allows only for root@pam with a password or ticket; API "
            f"tokens are refused, even {auth.username or 'root@pam'}!<token> "
            f"('configuring device passthrough is only allowed for root@pam'). {fix}"
        )
    if auth.kind == "password" and auth.username and auth.username != ROOT_PAM:
        return (
            f"it sets {what}, which Proxmox allows only for root@pam, but PROXMOX_VE_USERNAME is "
            f"{auth.username!r}. {fix}"
        )
    return None


def ssh_problem(has_ssh: bool, needs: Sequence[str]) -> str | None:
    if has_ssh or not needs:
        return None
    return (
        f"it needs SSH access to the node for {' and '.join(needs)} (bpg writes lxc.idmap lines and "
        "uploads snippets over SSH, the API cannot). Fix: configure "
        "ProxmoxProvider(..., ssh=ProxmoxSsh(username='root', agent=True))"
    )


NO_PROVIDER = "its stack has no ProxmoxProvider; add ProxmoxProvider(stack, 'proxmox')"


def provider_problems(
    auth: ProviderAuth | None, has_ssh: bool, needs_root_pam: Sequence[str], needs_ssh: Sequence[str]
) -> list[str]:
    """Why a stack's provider cannot do what a container needs (`auth` None: the stack has none)."""
    if auth is None:
        return [NO_PROVIDER]
    problems = [root_pam_problem(auth, needs_root_pam), ssh_problem(has_ssh, needs_ssh)]
    return [p for p in problems if p]

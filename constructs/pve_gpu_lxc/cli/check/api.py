"""The Proxmox VE API, read-only: one `GET /nodes/{node}/lxc` per node (the containers there, for
the ownership check), one `GET /nodes/{node}/lxc/{vmid}/config` per container.

Credentials come from the same variables bpg/proxmox reads (never from the stacks, never
printed):

* `PROXMOX_VE_ENDPOINT` (or the provider block's `endpoint`), `PROXMOX_VE_INSECURE`
  (or `insecure`): `true` skips certificate verification, as bpg does;
* `PROXMOX_VE_API_TOKEN` (`user@realm!id=secret`): sent as `Authorization: PVEAPIToken=...`,
  no login request.  A read-only token with VM.Audit on the containers is enough here;
* else `PROXMOX_VE_AUTH_TICKET` (a ticket bpg would reuse), no login request;
* else `PROXMOX_VE_USERNAME` + `PROXMOX_VE_PASSWORD`: one `POST /access/ticket` per run.

The config read is PVE's default (pending changes applied): what the container gets at its
next start.  A missing container is PVE's "Configuration file ... does not exist" (HTTP 500),
returned here as None; every other failure raises `ApiError` with PVE's message.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ...model.ownership import Listed
from ...pve.conf import split_list
from ...pve.synthesized import ProviderSettings, vmid_of

TIMEOUT_S = 30.0
T = TypeVar("T")


class ApiError(Exception):
    """The API could not be asked; str() is one line (no secret in it)."""


@dataclass(frozen=True)
class ApiSettings:
    endpoint: str  # https://host:8006 (no trailing slash)
    insecure: bool
    token: str | None = None
    username: str | None = None
    password: str | None = None
    ticket: str | None = None

    def __repr__(self) -> str:  # never show secrets, even in a traceback
        return f"ApiSettings(endpoint={self.endpoint!r}, insecure={self.insecure}, auth={self.auth_kind})"

    @property
    def auth_kind(self) -> str:
        return "token" if self.token else "ticket" if self.ticket else "password"


def env_bool(value: str | None) -> bool:
    """A boolean environment variable as bpg reads it (utils/env.go GetAnyBoolEnv): exactly
    `true` or `1`; anything else, `yes` and `on` included, is false."""
    return value in ("true", "1")


def settings_from(environ: Mapping[str, str], provider: ProviderSettings | None = None) -> ApiSettings:
    provider = provider or ProviderSettings()
    endpoint = provider.endpoint or environ.get("PROXMOX_VE_ENDPOINT", "").strip()
    if not endpoint:
        raise ApiError("PROXMOX_VE_ENDPOINT is not set (e.g. https://pve.lan:8006/), and the provider block "
                       "has no endpoint")
    parsed = urllib.parse.urlsplit(endpoint)
    if parsed.scheme not in ("https", "http") or not parsed.hostname or parsed.username or parsed.password:
        raise ApiError("PROXMOX_VE_ENDPOINT must be https://host[:port]/ (no credentials in it)")
    insecure = provider.insecure if provider.insecure is not None else env_bool(environ.get("PROXMOX_VE_INSECURE"))
    token = environ.get("PROXMOX_VE_API_TOKEN", "").strip() or None
    ticket = environ.get("PROXMOX_VE_AUTH_TICKET", "").strip() or None
    username = environ.get("PROXMOX_VE_USERNAME", "").strip() or None
    password = environ.get("PROXMOX_VE_PASSWORD") or None
    if token is None and ticket is None and (username is None or password is None):
        raise ApiError("no Proxmox credentials: set PROXMOX_VE_API_TOKEN (user@realm!id=secret; VM.Audit is "
                       "enough) or PROXMOX_VE_USERNAME and PROXMOX_VE_PASSWORD")
    if token is not None and ("=" not in token or "!" not in token.split("=", 1)[0]):
        raise ApiError("PROXMOX_VE_API_TOKEN is not 'user@realm!tokenid=secret'")
    return ApiSettings(endpoint=f"{parsed.scheme}://{parsed.netloc}", insecure=insecure, token=token,
                       username=username, password=password, ticket=ticket)


class PveApi:
    """A minimal client; `requests` counts every HTTP request made, `logins` the ticket requests."""

    def __init__(self, settings: ApiSettings, *, timeout: float = TIMEOUT_S):
        self.settings = settings
        self.timeout = timeout
        self.requests = 0
        self.logins = 0
        self._ticket = settings.ticket
        if settings.insecure:
            self._ssl = ssl.create_default_context()
            self._ssl.check_hostname = False
            self._ssl.verify_mode = ssl.CERT_NONE
        else:
            self._ssl = ssl.create_default_context()

    # ------------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, form: Mapping[str, str] | None = None,
              auth: bool = True) -> tuple[int, dict[str, Any]]:
        url = f"{self.settings.endpoint}/api2/json{path}"
        headers = {"Accept": "application/json"}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if auth:
            if self.settings.token:
                headers["Authorization"] = f"PVEAPIToken={self.settings.token}"
            else:
                headers["Cookie"] = f"PVEAuthCookie={self._ticket}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        self.requests += 1
        try:
            with urllib.request.urlopen(request, context=self._ssl, timeout=self.timeout) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as err:
            body = _json(err.read())
            return err.code, {**body, "_reason": err.reason}
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ApiError(f"cannot reach {self.settings.endpoint}: {reason}") from None

    def login(self) -> None:
        """Get a ticket (password auth only); a no-op with a token or a given ticket."""
        if self.settings.token or self._ticket:
            return
        self.logins += 1
        status, body = self._call("POST", "/access/ticket", auth=False,
                                  form={"username": self.settings.username or "",
                                        "password": self.settings.password or ""})
        ticket = (body.get("data") or {}).get("ticket") if isinstance(body.get("data"), dict) else None
        if status != 200 or not ticket:
            raise ApiError(f"login as {self.settings.username} at {self.settings.endpoint} failed: "
                           f"HTTP {status} {_message(body)}")
        self._ticket = ticket

    def _get(self, path: str, expect: type[T], *, missing_ok: bool = False) -> T | None:
        """The `data` of `GET path` (after a login when one is needed) when HTTP 200 gives an `expect`;
        with `missing_ok`, None for PVE's "Configuration file ... does not exist" (HTTP 500); else ApiError."""
        if not self.settings.token and not self._ticket:
            self.login()
        status, body = self._call("GET", path)
        data = body.get("data")
        if status == 200 and isinstance(data, expect):
            return data
        message = _message(body)
        if missing_ok and status == 500 and "does not exist" in message and "Configuration file" in message:
            return None
        if status == 401:
            raise ApiError(f"the Proxmox API refused the credentials ({self.settings.auth_kind}): HTTP 401 {message}")
        raise ApiError(f"GET {path}: HTTP {status} {message}")

    def container_config(self, node: str, vmid: int) -> dict[str, Any] | None:
        """The container's config, or None when the node has no such container."""
        return self._get(f"/nodes/{urllib.parse.quote(node, safe='')}/lxc/{int(vmid)}/config", dict, missing_ok=True)

    def list_containers(self, node: str) -> list[Listed]:
        """The containers of `node` as `GET /nodes/{node}/lxc` lists them (those the credentials may see)."""
        data = self._get(f"/nodes/{urllib.parse.quote(node, safe='')}/lxc", list) or []
        return [listed for entry in data if (listed := _listed(node, entry)) is not None]


def _listed(node: str, entry: Any) -> Listed | None:
    """One entry of `GET /nodes/{node}/lxc` (PVE::LXC::vmstatus): vmid, name, tags ("a;b"), lock."""
    if not isinstance(entry, dict):
        return None
    vmid = vmid_of(entry.get("vmid"))
    if vmid is None:
        return None
    name = entry.get("name")
    tags = entry.get("tags")
    # PVE::Tools::split_list: PVE stores them joined with ';', a hand edit may use ',' or spaces
    found = tuple(split_list(tags)) if isinstance(tags, str) else ()
    lock = entry.get("lock")
    return Listed(vmid=vmid, node=node, name=name if isinstance(name, str) else f"CT{vmid}", tags=found,
                  lock=lock if isinstance(lock, str) and lock else None)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8", "replace") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _message(body: Mapping[str, Any]) -> str:
    text = body.get("message") or body.get("_reason") or ""
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        text = f"{text} {json.dumps(errors, sort_keys=True)}"
    return " ".join(str(text).split())

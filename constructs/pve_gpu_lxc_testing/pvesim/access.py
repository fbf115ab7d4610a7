"""Authentication: the ticket login, API tokens and the CSRF check.

PVE: pve-manager `PVE/HTTPServer.pm` auth_handler (ticket cookie or `PVEAPIToken` header, the
CSRF header on every write but uploads), pve-access-control `PVE/AccessControl.pm`
verify_ticket / verify_token / verify_csrf_prevention_token, `PVE/API2/AccessControl.pm`
create_ticket.  Only `root@pam` can log in with a password; tokens are the ones the simulator
was given.  The root@pam-only options are checked where PVE checks them (lxc_config.py,
storage.py), with `ROOT` from here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
import urllib.parse

from .node import PveError, param_error
from .router import Auth, Headers, Request, Router

ROOT = "root@pam"


class Access:
    def __init__(self, password: str, tokens: dict[str, str], log: logging.Logger):
        self.password = password
        self.tokens = tokens  # token ID -> secret; the caller's dict, so a test can add one at run time
        self.log = log
        self._secret = secrets.token_bytes(32)

    def register(self, router: Router) -> None:
        router.add("POST", "/access/ticket", self.create_ticket)
        router.add("GET", "/access/ticket", self.get_ticket)

    # --- pve-manager PVE/HTTPServer.pm auth_handler ---------------------------------------------
    def authenticate(self, method: str, path: str, headers: Headers) -> Auth | None:
        if path == "/access/ticket" and method in ("GET", "POST"):
            return None
        authorization = headers.get("Authorization") or ""
        match = re.match(r"^PVEAPIToken[= ](\S+)$", authorization.strip())
        if match:
            return Auth(self.verify_token(match.group(1)), token=True)
        ticket = _cookie(headers.get("Cookie") or "", "PVEAuthCookie")
        if not ticket:
            raise PveError("No ticket", 401)
        user = self.verify_ticket(ticket)
        is_upload = method == "POST" and re.match(r"^/nodes/[^/]+/storage/[^/]+/upload$", path)
        if method != "GET" and not is_upload:
            if not self.verify_csrf(user, headers.get("CSRFPreventionToken") or ""):
                raise PveError("Permission denied - invalid csrf token", 401)
        return Auth(user, token=False)

    def verify_token(self, api_token: str) -> str:
        """PVE::AccessControl::verify_token."""
        match = re.match(r"^(.*)=(.*)$", api_token)
        if not match:
            raise PveError("no tokenid specified", 401)
        tokenid, value = match.groups()
        if "!" not in tokenid or "@" not in tokenid.split("!", 1)[0]:
            raise PveError(f"'{tokenid}' is not a valid token ID", 401)
        user, name = tokenid.split("!", 1)
        if user != ROOT and not any(t.startswith(user + "!") for t in self.tokens):
            raise PveError(f"user '{user}' does not exist", 401)
        if tokenid not in self.tokens:
            raise PveError(f"no such token '{name}' for user '{user}'", 401)
        if not hmac.compare_digest(self.tokens[tokenid], value):
            raise PveError("invalid token value!", 401)
        return tokenid

    def _sign(self, text: str) -> str:
        return base64.b64encode(hmac.new(self._secret, text.encode(), hashlib.sha256).digest()).decode()

    def make_ticket(self, user: str) -> tuple[str, str]:
        stamp = f"{int(time.time()):08X}"
        plain = f"PVE:{user}:{stamp}"
        ticket = f"{plain}::{self._sign(plain)}"
        csrf = f"{stamp}:{self._sign('csrf:' + user + ':' + stamp)[:43]}"
        return ticket, csrf

    def verify_ticket(self, ticket: str) -> str:
        match = re.match(r"^(PVE:([^:]+):([0-9A-F]{8}))::(.+)$", ticket)
        if not match or not hmac.compare_digest(self._sign(match.group(1)), match.group(4)):
            raise PveError("permission denied - invalid PVE ticket", 401)
        age = time.time() - int(match.group(3), 16)
        if age > 7200:
            raise PveError("permission denied - invalid PVE ticket", 401)
        return match.group(2)

    def verify_csrf(self, user: str, token: str) -> bool:
        match = re.match(r"^([0-9A-F]{8}):(\S+)$", token)
        if not match:
            return False
        return hmac.compare_digest(self._sign("csrf:" + user + ":" + match.group(1))[:43], match.group(2))

    # --- handlers (pve-access-control API2/AccessControl.pm) -------------------------------------
    def create_ticket(self, req: Request) -> object:
        username, password = req.params.get("username", ""), req.params.get("password", "")
        if not username:
            raise param_error({"username": "property is missing and it is not optional"})
        if username != ROOT or not hmac.compare_digest(password.encode(), self.password.encode()):
            self.log.info("authentication failure; user=%s", username)
            raise PveError("authentication failure", 401)
        ticket, csrf = self.make_ticket(ROOT)
        return {"username": ROOT, "ticket": ticket, "CSRFPreventionToken": csrf,
                "cap": {"vms": {}, "storage": {}, "access": {}, "nodes": {}, "dc": {}, "sdn": {}, "mapping": {}}}

    def get_ticket(self, req: Request) -> object:
        return None


def _cookie(header: str, name: str) -> str | None:
    for part in (header or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return urllib.parse.unquote(value.strip('"'))
    return None

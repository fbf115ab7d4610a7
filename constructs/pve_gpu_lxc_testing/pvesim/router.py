"""The route registry: each module of the simulated node registers its API paths here.

PVE's own registry is pve-common `PVE/RESTHandler.pm` (`register_method`, `find_handler`): a
method, a path template such as `/nodes/{node}/lxc/{vmid}/config` and a handler.  A route keeps
that template as PVE's API description (pve-docs `apidoc.js`) spells it, so whatever looks a
request up by its API path (fault injection, validation against the API description: see
server.py) keys on the same string.

    router.add("GET", "/nodes/{node}/lxc/{vmid}/config", self.vm_config)   # handler(request, vmid=...)
    route, args = router.resolve("GET", "/nodes/pve/lxc/100/config")

The request pipeline (server.py `Api2Handler.dispatch`) resolves the route, checks `node`, then
calls `route.handler(request, **args)` without `node`; the handler returns the response's `data`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .node import PveError


class Headers(Protocol):
    """The request's headers (http.server's `HTTPMessage`, or a dict in a test)."""

    def get(self, name: str, default: None = None, /) -> str | None: ...


@dataclass(frozen=True)
class Auth:
    user: str  # the authenticated user: `root@pam`, or a token ID `user@realm!name`
    token: bool


@dataclass
class Request:
    method: str
    path: str  # below /api2/json, unquoted segments joined with '/'
    params: dict[str, str]
    headers: Headers
    auth: Auth | None  # None only on the routes that need no login (the ticket)
    files: dict[str, tuple[str, Path]] = field(default_factory=dict)  # multipart file fields

    @property
    def user(self) -> str:
        """The authenticated user of a route that requires a login (all but /access/ticket)."""
        assert self.auth is not None, f"{self.method} {self.path} runs without authentication"
        return self.auth.user


# handler(request, **path_args) -> the response's `data`; `node` is checked and left out
Handler = Callable[..., object]

_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_-]*)\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # PVE's template: `/nodes/{node}/lxc/{vmid}/config`
    handler: Handler
    pattern: re.Pattern[str]


def compile_template(path: str, patterns: Mapping[str, str] | None = None) -> re.Pattern[str]:
    """`{name}` matches one path segment unless `patterns` gives it another regex (`.+` for a
    volume ID, which the pipeline has already unquoted and which may hold '/')."""
    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(path):
        parts.append(re.escape(path[position:match.start()]))
        name = match.group(1)
        parts.append(f"(?P<{name}>{(patterns or {}).get(name, '[^/]+')})")
        position = match.end()
    parts.append(re.escape(path[position:]))
    return re.compile(f"^{''.join(parts)}$")


class RouteModule(Protocol):
    """A module of the API (access, nodes, tasks, storage, lxc_*): it adds its routes."""

    def register(self, router: Router) -> None: ...


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, path: str, handler: Handler, *, patterns: Mapping[str, str] | None = None) -> None:
        if any(r.method == method and r.path == path for r in self.routes):
            raise ValueError(f"route {method} {path} is registered twice")
        self.routes.append(Route(method, path, handler, compile_template(path, patterns)))

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """PVE::RESTHandler::find_handler: the route and its path arguments, else PVE's 501."""
        for route in self.routes:
            if route.method != method:
                continue
            match = route.pattern.match(path)
            if match:
                return route, match.groupdict()
        raise PveError(f"Method '{method} {path}' not implemented", 501)

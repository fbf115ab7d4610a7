"""The HTTPS server and the one path every API request takes through it.

PVE: pve-http-server `PVE/APIServer/AnyEvent.pm` (handle_api2_request, the multipart upload
to a temporary file), `PVE/APIServer/Formatter/Standard.pm` (the JSON formatter), pve-manager
`PVE/HTTPServer.pm` (auth_handler, rest_handler: find the handler, proxy to another node).

`Api2Handler.handle` is that path: count the request in `<state>/requests.log`, split the
URI (`/api2/json` only), authenticate (access.py), parse the parameters, then `dispatch`:
resolve the route (router.py), check the node, run the handler, format the answer.

Answers: `{"data": ...}` with 200; an error has its message's first line as the status line's
reason (`HTTP/1.1 500 CT 100 already exists on node 'pve'`) and the body
`{"data":null,"message":"...\\n"}` (plus `errors` for parameter errors); authentication
failures (401 `No ticket`, `Permission denied - invalid csrf token`) have no body.

`Api2Handler.dispatch` is the seam every request that reaches a handler passes once its route is
known, in this order: the node check, the API description (apischema.py: PVE's parameter
validation, `400 Parameter verification failed.`, keyed on `route.method` + `route.path`, PVE's
path template, as PVE::RESTHandler::handle validates before the method's code), then the handler,
which runs through the node's armed faults (faults.py: `Faults.dispatch` answers an armed error,
time-out or hold for that route before or after the handler); pveproxy's 595 and 596 come without
a body (`NoBodyError`), as pveproxy relays AnyEvent::HTTP's status.
"""

from __future__ import annotations

import http.server
import json
import re
import secrets
import socket
import ssl
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .api import PveApi
from .apischema import ApiSchema
from .faults import NoBodyError
from .node import PveError
from .router import Headers, Request


@dataclass
class Response:
    status: int = 200
    reason: str = "OK"
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"


class Api2Handler:
    """The request pipeline over a `PveApi`, independent of the HTTP server (`ApiServer`)."""

    def __init__(self, api: PveApi):
        self.api = api
        self.log = api.log
        self.requests_log = api.state_dir / "requests.log"
        self.upload_dir = api.state_dir / "uploads"
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self.schema = ApiSchema()  # PVE 9's API description (data/pve-api-schema.json)
        self.validated = 0  # requests checked against it (every one that reached a route)
        self.unvalidated: list[str] = []  # authenticated requests that did not: no route, another node

    def record(self, method: str, raw_path: str) -> None:
        with self.api.lock, open(self.requests_log, "a") as f:
            f.write(f"{method} {raw_path}\n")

    def handle(self, method: str, raw_path: str, query: str, headers: Headers, body: bytes) -> Response:
        self.record(method, raw_path)
        if not raw_path.startswith("/api2/json"):
            return Response(501, "no such uri", b"")
        rel = raw_path[len("/api2/json"):] or "/"
        segments = [urllib.parse.unquote(s) for s in rel.split("/")]
        path = "/".join(segments).rstrip("/") or "/"
        try:
            auth = self.api.access.authenticate(method, path, headers)
        except PveError as err:
            self.log.info("%s %s -> %d %s", method, raw_path, err.status, err.message)
            return Response(err.status, _reason(err.message), b"")
        try:
            params, files = parse_params(method, query, headers, body, self.upload_dir)
            request = Request(method, path, params, headers, auth, files)
            data = self.dispatch(request)
            payload = json.dumps({"data": data}).encode()
            self.log.info("%s %s -> 200", method, raw_path)
            return Response(200, "OK", payload)
        except PveError as err:
            if isinstance(err, NoBodyError):  # pveproxy relaying AnyEvent::HTTP's 59x: a status line only
                self.log.info("%s %s -> %d %s", method, raw_path, err.status, err.message)
                return Response(err.status, _reason(err.message), b"")
            message = err.message if err.message.endswith("\n") else err.message + "\n"
            body_data: dict[str, Any] = {"data": None, "message": message}
            if err.errors:
                body_data["errors"] = {k: v if v.endswith("\n") else v + "\n" for k, v in err.errors.items()}
            self.log.info("%s %s -> %d %s %s", method, raw_path, err.status, err.message.strip(),
                          json.dumps(err.errors) if err.errors else "")
            return Response(err.status, _reason(err.message), json.dumps(body_data).encode())
        except Exception as err:  # a simulator bug is a 500 like any die in PVE
            self.log.exception("internal error on %s %s", method, raw_path)
            body_data = {"data": None, "message": f"{err}\n"}
            return Response(500, _reason(str(err)), json.dumps(body_data).encode())

    def dispatch(self, request: Request) -> object:
        """PVE::HTTPServer rest_handler: the route, the node check (a call for another node is
        proxied there), then PVE::RESTHandler::handle: the parameters, path arguments included,
        validated against the route's API description, then the handler, which runs through the
        node's armed faults (faults.py: an error, a time-out or a hold instead of or after it)."""
        try:
            route, args = self.api.router.resolve(request.method, request.path)
            if "node" in args:
                self.check_node(args["node"])
        except PveError:
            with self.api.lock:
                self.unvalidated.append(f"{request.method} {request.path}")
            raise
        with self.api.lock:
            self.validated += 1
        self.schema.validate(route.method, route.path, {**request.params, **args})
        args.pop("node", None)
        return self.api.faults.dispatch(route, request, args)

    def check_node(self, node: str) -> None:
        """pve-manager HTTPServer: a call for another node is proxied after a hostname lookup."""
        if node not in (self.api.node, "localhost"):
            raise PveError(f"hostname lookup '{node}' failed - failed to get address info for: {node}: "
                           "Name or service not known")


# --- request parsing (pve-http-server AnyEvent.pm) -------------------------------------------------

def parse_params(method: str, query: str, headers: Headers, body: bytes, upload_dir: Path
                 ) -> tuple[dict[str, str], dict[str, tuple[str, Path]]]:
    """The body's form fields (or multipart parts), then the query string's; a repeated key
    keeps every value, NUL-joined (PVE::Tools::split_list splits on NUL: `delete=a&delete=b`)."""
    params: dict[str, str] = {}
    files: dict[str, tuple[str, Path]] = {}

    def add(pairs: list[tuple[str, str]]) -> dict[str, str]:
        result: dict[str, str] = {}
        for key, value in pairs:
            result[key] = f"{result[key]}\0{value}" if key in result else value
        return result

    content_type = headers.get("Content-Type") or ""
    if method in ("POST", "PUT") and body:
        if content_type.startswith("multipart/form-data"):
            params, files = parse_multipart(content_type, body, upload_dir)
        else:
            params = add(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    params.update(add(urllib.parse.parse_qsl(query, keep_blank_values=True)))
    return params, files


def parse_multipart(content_type: str, body: bytes, upload_dir: Path
                    ) -> tuple[dict[str, str], dict[str, tuple[str, Path]]]:
    """Form fields, and each file part stored under `upload_dir` (as PVE stores it in /var/tmp)."""
    match = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
    if not match:
        raise PveError("upload failed", 501)
    delimiter = b"--" + match.group(1).encode()
    params: dict[str, str] = {}
    files: dict[str, tuple[str, Path]] = {}
    for raw_part in body.split(delimiter)[1:]:
        if raw_part.startswith(b"--"):
            break
        part = raw_part[2:] if raw_part.startswith(b"\r\n") else raw_part
        head, _, data = part.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        disposition = re.search(rb'(?im)^content-disposition:\s*form-data(.*)$', head)
        if not disposition:
            continue
        name = re.search(rb'name="([^"]*)"', disposition.group(1))
        filename = re.search(rb'filename="([^"]*)"', disposition.group(1))
        if not name:
            continue
        if filename is not None:
            tmp = upload_dir / f"pveupload-{secrets.token_hex(8)}"
            tmp.write_bytes(data)
            files[name.group(1).decode()] = (filename.group(1).decode(), tmp)
            params[name.group(1).decode()] = filename.group(1).decode()
        else:
            params[name.group(1).decode()] = data.decode("utf-8", "replace")
    return params, files


def _reason(message: str) -> str:
    """The status line's reason: the message's first line, in latin-1 as HTTP/1.1 allows."""
    first = (message or "").strip().split("\n", 1)[0]
    return first.encode("latin-1", "replace").decode("latin-1") or "Internal Server Error"


# --- the HTTPS server -------------------------------------------------------------------------------

def make_certificate(state_dir: Path, node: str) -> tuple[Path, Path]:
    """A self-signed certificate for this run, made with the openssl CLI."""
    cert, key = Path(state_dir) / "pve-ssl.pem", Path(state_dir) / "pve-ssl.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "7", "-subj", f"/CN={node}/O=pvesim",
         "-addext", f"subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:{node}"],
        check=True, capture_output=True, stdin=subprocess.DEVNULL,
    )
    key.chmod(0o600)
    return cert, key


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pve-api-daemon/3.0"
    sys_version = ""
    server: _TlsServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # Api2Handler.handle logs every request with its outcome

    def _body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        raw_path, _, query = self.path.partition("?")
        body = self._body() if self.command in ("POST", "PUT", "DELETE") else b""
        response = self.server.api2.handle(self.command, raw_path, query, self.headers, body)
        self.send_response(response.status, response.reason)
        if response.body:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "max-age=0")
        self.send_header("Pragma", "no-cache")
        self.end_headers()
        if response.body:
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def do_HEAD(self) -> None:
        self.send_response(501, "Method 'HEAD' not implemented")
        self.send_header("Content-Length", "0")
        self.end_headers()


class _TlsServer(http.server.ThreadingHTTPServer):
    """The TLS handshake runs in the request's own thread, never in the accept loop."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], api2: Api2Handler, tls_context: ssl.SSLContext):
        super().__init__(address, _HttpHandler)
        self.api2 = api2
        self.tls_context = tls_context

    def finish_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        assert isinstance(request, socket.socket)  # a stream server's request is its connection
        try:
            tls = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            _HttpHandler(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        self.api2.log.debug("connection error from %s", client_address, exc_info=True)


class ApiServer:
    """`PveApi` behind a ThreadingHTTPServer with TLS (1.2 and 1.3) on `address:port`."""

    def __init__(self, api: PveApi, *, address: str = "127.0.0.1", port: int = 0):
        self.api = api
        self.api2 = Api2Handler(api)
        cert, key = make_certificate(api.state_dir, api.node)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(cert), str(key))
        self.httpd = _TlsServer((address, port), self.api2, context)
        self.cert_path = cert
        host, port = self.httpd.server_address[:2]
        self.address, self.port = str(host), int(port)
        self._thread: threading.Thread | None = None

    def start(self) -> ApiServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="pvesim-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()

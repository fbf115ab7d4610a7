"""A private OCI registry on loopback: Debian's docker-registry (distribution 2.8) over TLS.

    with Registry(tmp / "registry") as registry:          # a free port on 127.0.0.1, state under tmp
        ref = registry.push(layout, "1.0", "pvesim/app")  # skopeo copy oci:LAYOUT:1.0 docker://HOST:PORT/pvesim/app:1.0
        registry.trust(node_root)                         # the node's /etc/containers/certs.d/HOST:PORT/ca.crt

The registry serves HTTPS with a certificate made for the run (openssl; subjectAltName
IP:127.0.0.1), so the simulated node's skopeo pulls from it the way a node pulls from a private
registry: with the registry's CA in `/etc/containers/certs.d/<host:port>/ca.crt` (containers-
certs.d(5)), which `trust` writes into the node the way an administrator does.  A node without it
fails the pull with skopeo's own x509 error.  Its storage, configuration and log stay under the
directory given; nothing is read from or pushed to a public registry.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

START_TIMEOUT = 20.0

CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  tls:
    certificate: {cert}
    key: {key}
"""


class RegistryError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Registry:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """`host:port` as references spell it (a reference PVE's pattern accepts)."""
        return f"127.0.0.1:{self.port}"

    @property
    def ca_cert(self) -> Path:
        return self.directory / "tls" / "cert.pem"

    @property
    def log_path(self) -> Path:
        return self.directory / "registry.log"

    def start(self) -> Registry:
        for program, package in (("docker-registry", "docker-registry"), ("openssl", "openssl"),
                                 ("skopeo", "skopeo")):
            if shutil.which(program) is None:
                raise RegistryError(f"{program} is not installed (Debian package {package}; "
                                    "`make system-deps` installs it)")
        tls = self.directory / "tls"
        tls.mkdir(parents=True, exist_ok=True)
        key = tls / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(self.ca_cert), "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, stdin=subprocess.DEVNULL)
        self.port = _free_port()
        config = self.directory / "config.yml"
        config.write_text(CONFIG.format(storage=self.directory / "storage", port=self.port, cert=self.ca_cert,
                                        key=key))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(["docker-registry", "serve", str(config)], stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RegistryError(f"docker-registry exited ({self.process.returncode}): {self.log()}")
            try:
                with urllib.request.urlopen(f"https://{self.host}/v2/", context=context, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RegistryError(f"docker-registry did not answer on {self.host} within {START_TIMEOUT}s: "
                                    f"{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cert_dir(self) -> Path:
        """A containers-certs.d(5) directory for this registry (what `--dest-cert-dir` takes)."""
        path = self.directory / "certs.d" / self.host
        path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.ca_cert, path / "ca.crt")
        return path

    def push(self, layout: Path, tag: str, repository: str) -> str:
        """Push `layout:tag` as `repository:tag`; returns the reference (`127.0.0.1:PORT/repository:tag`)."""
        reference = f"{self.host}/{repository}:{tag}"
        result = subprocess.run(["skopeo", "copy", "--quiet", "--dest-cert-dir", str(self.cert_dir()),
                                 f"oci:{layout}:{tag}", f"docker://{reference}"],
                                capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
        if result.returncode:
            raise RegistryError(f"skopeo push of {layout}:{tag} failed: {result.stderr.strip()}")
        return reference

    def trust(self, node_root: Path) -> Path:
        """Let a (simulated) node's skopeo trust this registry: its CA as
        `<root>/etc/containers/certs.d/127.0.0.1:PORT/ca.crt`.  Returns that file."""
        target = Path(node_root) / "etc/containers/certs.d" / self.host / "ca.crt"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.ca_cert, target)
        return target

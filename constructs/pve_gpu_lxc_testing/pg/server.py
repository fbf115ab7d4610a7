"""Start and stop a private PostgreSQL cluster with initdb + pg_ctl."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")


class PgServerError(RuntimeError):
    """PostgreSQL could not be found, started or queried; the message says why."""


def find_pg_bin(root: Path = PG_ROOT) -> Path:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb and pg_ctl."""
    candidates = []
    if root.is_dir():
        for vdir in root.iterdir():
            bindir = vdir / "bin"
            if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
                try:
                    candidates.append((int(vdir.name.split(".")[0]), bindir))
                except ValueError:
                    continue
    if not candidates:
        raise PgServerError(
            f"PostgreSQL server binaries not found under {root}/<version>/bin: "
            "install Debian's postgresql package (make system-deps)"
        )
    return max(candidates)[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PgServer:
    """A running cluster; use `PgServer.start()` and `stop()` (or a with-block)."""

    bindir: Path
    base: Path
    port: int
    user: str  # the OS user the server runs as, also the database superuser

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @classmethod
    def start(cls, bindir: Path | None = None, timeout_s: int = 30) -> PgServer:
        bindir = bindir or find_pg_bin()
        user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        # Not under pytest's tmp_path: that lives below a 0700 root directory
        # the postgres user cannot enter.
        base = Path(tempfile.mkdtemp(prefix="pve-gpu-lxc-pg-"))
        server = cls(bindir=bindir, base=base, port=free_port(), user=user)
        try:
            if os.geteuid() == 0:
                try:
                    entry = pwd.getpwnam(user)
                except KeyError as err:
                    raise PgServerError(
                        "no 'postgres' OS user: install Debian's postgresql package"
                    ) from err
                os.chown(base, entry.pw_uid, entry.pw_gid)
            server._run(
                ["initdb", "-D", str(server.datadir), "-U", user, "-A", "trust",
                 "--no-sync", "-E", "UTF8", "--locale=C"]
            )
            server._run(
                ["pg_ctl", "-D", str(server.datadir), "-l", str(base / "server.log"),
                 "-w", "-t", str(timeout_s),
                 "-o", f"-c listen_addresses=127.0.0.1 -p {server.port} "
                       f"-c unix_socket_directories={base} -c fsync=off",
                 "start"]
            )
        except BaseException:
            server.stop()
            raise
        return server

    def conn_str(self, database: str = "postgres") -> str:
        """A libpq URL for Terraform's pg backend (trust auth on loopback: no password)."""
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def create_database(self, name: str) -> None:
        self._run(["createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name])

    def psql(self, database: str, sql: str) -> str:
        """Run one SQL statement; return psql's unaligned, tuples-only output."""
        psql = shutil.which("psql") or str(self.bindir / "psql")
        return self._run(
            [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", database,
             "-v", "ON_ERROR_STOP=1", "-A", "-t", "-c", sql],
            in_bindir=False,
        )

    def stop(self) -> None:
        """Stop the server (fast mode) and delete its directory; safe to call twice."""
        if (self.datadir / "postmaster.pid").exists():
            try:
                self._run(["pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop"])
            except PgServerError:
                pass  # removing the directory below is all that is left to do
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.base / "server.log").read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def _run(self, cmd: Sequence[str], in_bindir: bool = True) -> str:
        argv = [str(self.bindir / cmd[0]) if in_bindir else cmd[0], *cmd[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", self.user, "--", *argv]
        proc = subprocess.run(
            argv, capture_output=True, text=True, check=False, cwd=self.base,
            env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
        )
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise PgServerError(
                f"{cmd[0]} failed (exit {proc.returncode}): "
                f"{detail[-1] if detail else 'no output'}\n{self.log_tail()}"
            )
        return proc.stdout

    def __enter__(self) -> PgServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

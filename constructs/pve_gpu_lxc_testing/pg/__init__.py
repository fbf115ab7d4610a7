"""A throw-away PostgreSQL server for the shared-state tests (Debian's `postgresql` package).

    with PgServer.start() as pg:
        env["PG_CONN_STR"] = pg.conn_str("tfstate")

initdb refuses to run as root, so as root the server runs as the `postgres`
user in a temporary directory it owns; as any other user it runs as that
user.  It listens on 127.0.0.1 and a free port, with its unix socket inside
the temporary directory, so it never touches a system cluster.
"""

from .server import PgServer, PgServerError, find_pg_bin

__all__ = ["PgServer", "PgServerError", "find_pg_bin"]

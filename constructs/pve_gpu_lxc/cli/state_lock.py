"""What `drift` says when Terraform cannot take the state lock (pure: text in, text out).

Terraform (and OpenTofu) print the holder's lock record under `Lock Info:` (ID, Path,
Operation, Who, Version, Created) but name no way out.  Which one helps depends on the
backend, as tried with Terraform 1.11 (tests/e2e/test_faults.py):

* `local` (the default here): the lock is an fcntl lock on the state file, which the kernel
  drops when the process holding it dies.  A killed run (SIGKILL, a lost CI runner) leaves its
  `.terraform.<stack>.tfstate.lock.info` behind, but that file blocks nobody: the next run takes
  the lock and removes it.  A lock error therefore means another terraform process is still
  running on this machine.  `terraform force-unlock` cannot help there: a local state is only
  unlocked by its holder ("Failed to unlock state: LocalState not locked").
* `pg`: a session-level advisory lock (`pg_try_advisory_lock`), dropped by PostgreSQL when the
  holder's session ends, which a killed run's does; `force-unlock` from another session
  releases nothing.  The holder is another live run, and it cannot be named: an advisory lock
  carries no record, so the `Lock Info` Terraform prints is the refused run's own request
  (remote-state/pg client.go Lock returns `LockError{Info: info}` with the caller's info).
* any other backend keeps a lock record that can outlive a killed run: `force-unlock <ID>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MARKER = "Error acquiring the state lock"
_FIELD = re.compile(r"^(ID|Path|Operation|Who|Version|Created|Info):\s*(.*?)\s*$")


def unframed(line: str) -> str:
    """A line of Terraform's (or OpenTofu's) output without the frame of its diagnostics (`╷`, `│`,
    `╵`) and the blanks around it; drift's `first_error_line` reads the lines this way too."""
    return line.strip().lstrip("│╷╵ ").strip()


@dataclass(frozen=True)
class LockInfo:
    id: str
    who: str = ""
    operation: str = ""
    created: str = ""
    path: str = ""


def parse_lock_info(output: str) -> LockInfo | None:
    """The `Lock Info:` block of Terraform's "Error acquiring the state lock", or None."""
    if MARKER not in output:
        return None
    fields: dict[str, str] = {}
    inside = False
    for raw in output.splitlines():
        line = unframed(raw)
        if line == "Lock Info:":
            inside = True
            continue
        if inside:
            match = _FIELD.match(line)
            if match:
                fields.setdefault(match.group(1), match.group(2))
            elif line:
                break
    if not fields.get("ID"):
        return None
    return LockInfo(id=fields["ID"], who=fields.get("Who", ""), operation=fields.get("Operation", ""),
                    created=fields.get("Created", ""), path=fields.get("Path", ""))


def describe(output: str, backend: str | None, workdir: Path) -> str | None:
    """One line for a state lock error: who holds it, since when, and what to do; None when the
    output is no lock error."""
    if MARKER not in output:
        return None
    if backend == "pg":
        return (f"{MARKER}: another run's PostgreSQL session holds it (Terraform's Lock Info names this run's "
                "own request: an advisory lock has no record of its holder); PostgreSQL drops the lock when that "
                "session ends, a killed run's too: wait for it (--lock-timeout 120s) or end that run")
    info = parse_lock_info(output)
    if info is None:
        return f"{MARKER} (Terraform printed no lock record)"
    holder = ", ".join(p for p in (f"held by {info.who}" if info.who else "",
                                   f"since {info.created}" if info.created else "",
                                   info.operation.removeprefix("OperationType").lower()) if p)
    head = f"{MARKER}: lock ID {info.id} ({holder})"
    wait = "wait for it (--lock-timeout 120s)"
    kind = backend or "local"
    if kind == "local":
        return (f"{head}: another terraform run on this machine still holds it (a killed run holds no "
                f"local lock: the kernel drops it, and the .lock.info file it leaves is harmless); {wait} "
                "or stop that run; `terraform force-unlock` cannot release another process's local lock")
    return (f"{head}: {wait}; if the run that took it is gone, release it with "
            f"`terraform -chdir={workdir} force-unlock {info.id}`")

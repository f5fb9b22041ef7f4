"""A throw-away PostgreSQL server for the test suite.

``initdb`` into a temporary directory, ``postgres`` on a free 127.0.0.1 port with its unix socket in
that directory, password auth over TCP (so tests can check that passwords never leak), one fresh
database per test. Run as an unprivileged user when the suite runs as root (PostgreSQL refuses root).
Durability is switched off (fsync, synchronous_commit): the data dir is deleted afterwards anyway.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

SUPERUSER = "capplan"
START_TIMEOUT_S = 60.0
START_ATTEMPTS = 3
# Debian's package creates `postgres`; scripts/sysdeps.sh guarantees it on CI. `nobody` is the fallback.
RUN_AS_CANDIDATES = ("postgres", "nobody")


def find_bindir() -> Path | None:
    """Directory holding initdb/postgres (newest Debian version first), or None when not installed."""
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name.zfill(4), reverse=True
    )
    on_path = [Path(p).parent for p in (shutil.which("initdb"),) if p]
    for d in [*debian, *on_path]:
        if (d / "initdb").exists() and (d / "postgres").exists():
            return d
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as_user() -> str | None:
    """An unprivileged account to run PostgreSQL under when we are root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in RUN_AS_CANDIDATES:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError(f"running as root and none of the users {RUN_AS_CANDIDATES} exists to run PostgreSQL")


class PgServer:
    """One PostgreSQL cluster in a temporary directory. Use ``start()``, ``new_database()``, ``stop()``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="capplan-pg-"))
        self.data = self.root / "data"
        self.password = secrets.token_hex(12)
        self.port = 0
        self.user = _run_as_user()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = self.root / "postgres.log"
        self._n = 0

    def _chown(self, path: Path) -> None:
        if self.user:
            shutil.chown(path, user=self.user)

    def start(self) -> None:
        self._chown(self.root)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        self._chown(pwfile)
        init = subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
             "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync"],
            user=self.user, capture_output=True, text=True, cwd=self.root,
        )
        if init.returncode != 0:
            raise RuntimeError(
                f"initdb failed (as user {self.user or 'current'}): {init.stderr.strip()[-500:]}"
            )
        pwfile.unlink()
        for _attempt in range(START_ATTEMPTS):  # the free port can be taken between probing and binding
            self.port = _free_port()
            log = self._log.open("ab")
            self._proc = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-h", "127.0.0.1", "-p", str(self.port),
                 "-k", str(self.root), "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=32MB"],
                user=self.user, stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
            )
            log.close()
            if self._wait_ready():
                return
            self.stop(cleanup=False)
        raise RuntimeError(f"PostgreSQL did not start; log:\n{self._log.read_text(errors='replace')[-2000:]}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        return False

    def dsn(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of database ``dbname``, password included."""
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def new_database(self, prefix: str = "t") -> str:
        """Create a fresh empty database; returns its SQLAlchemy URL."""
        self._n += 1
        name = f"{prefix}_{os.getpid()}_{self._n}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, *, cleanup: bool = True) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(2)  # SIGINT = "fast shutdown": roll back, disconnect clients, exit
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if cleanup:
            shutil.rmtree(self.root, ignore_errors=True)

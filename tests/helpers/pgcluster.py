"""A throw-away PostgreSQL cluster in a temporary folder, for the team-scale tests.

PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to
the unprivileged ``postgres`` user of Debian's package (or one created for the purpose).
The server listens on 127.0.0.1 and a socket in the cluster's own folder only, with
``trust`` authentication: it is never reachable from outside this machine.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_USER = "clonescout"
REQUIRE_ENV = "CLONESCOUT_REQUIRE_POSTGRES"  # set by `make test`: a missing server fails


def server_bin() -> Path | None:
    """The folder of Debian's PostgreSQL binaries (newest version), or of those on PATH."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: [int(x) for x in p.parts[-3].split(".") if x.isdigit()],
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _os_user() -> pwd.struct_passwd | None:
    """Who runs the server: nobody special unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "clonescout-pg"], check=True)
        return pwd.getpwnam("clonescout-pg")


@dataclass
class Cluster:
    """A running cluster: its folder, port and the URL of its ``clonescout`` database."""

    folder: Path
    port: int
    bin: Path
    user: pwd.struct_passwd | None

    def url(self, database: str = "clonescout", schema: str | None = None) -> str:
        url = f"postgresql+psycopg2://{PG_USER}@127.0.0.1:{self.port}/{database}"
        return url if schema is None else f"{url}?options=-csearch_path%3D{schema}"

    def _run(self, *cmd: str) -> None:
        """Run a server command as the cluster's user; a failure says what it printed."""
        prefix = [] if self.user is None else ["runuser", "-u", self.user.pw_name, "--"]
        done = subprocess.run(
            [*prefix, *cmd], cwd=self.folder, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}{tail}"
            )

    def sql(self, statement: str, database: str = "clonescout") -> list[tuple]:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=PG_USER, dbname=database)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def stop(self) -> None:
        try:
            data = str(self.folder / "data")
            self._run(str(self.bin / "pg_ctl"), "-D", data, "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_cluster() -> Cluster:
    """initdb + pg_ctl start in a new temporary folder; the ``clonescout`` database made."""
    bin_dir = server_bin()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (initdb) found")
    user = _os_user()
    # under /tmp, not $TMPDIR: the cluster's user must be able to reach the folder
    folder = Path(tempfile.mkdtemp(prefix="clonescout-pg-", dir="/tmp" if user else None))
    if user is not None:
        os.chown(folder, user.pw_uid, user.pw_gid)
    cluster = Cluster(folder, free_port(), bin_dir, user)
    data = str(folder / "data")
    try:
        cluster._run(
            str(bin_dir / "initdb"), "-D", data, "-A", "trust", "-U", PG_USER, "-E", "UTF8"
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    options = f"-k {folder} -p {cluster.port} -h 127.0.0.1 -c fsync=off"
    log = str(folder / "server.log")
    try:
        cluster._run(str(bin_dir / "pg_ctl"), "-D", data, "-l", log, "-o", options, "-w", "start")
        cluster.sql("CREATE DATABASE clonescout", database="postgres")
    except BaseException:
        cluster.stop()  # never leave a server running or its folder behind
        raise
    return cluster

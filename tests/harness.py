"""Starts (or reuses) the real Kafka, PostgreSQL and Redis for a test session.

Set FUSEBOX_TEST_REUSE_STACK=1 to run against an already running stack (the addresses come from
FUSEBOX_KAFKA_BOOTSTRAP, FUSEBOX_DATABASE_URL and REDIS_URL). Otherwise the harness starts its own
stack on free ports in a temporary run folder, through deploy/local/stack.sh, and stops it after.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
STACK_SH = ROOT / "deploy" / "local" / "stack.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair() -> int:
    """A port p such that p and p+1 are both free (Kafka's listener and controller)."""
    for _ in range(100):
        p = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
        return p
    raise RuntimeError("no pair of free ports")


def schema_scoped_url(database_url: str, schema: str) -> str:
    """`database_url` whose connections see `schema` only, for tests that read a deployment's tables."""
    return f"{database_url}?options={quote(f'-c search_path={schema}')}"


def fresh_database(admin_url: str, schema: str) -> str:
    """A new database with `schema` migrated; its URL scoped to that schema."""
    import psycopg

    from fusebox.storage.migrations import apply_migrations

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    apply_migrations(url, schema)
    return schema_scoped_url(url, schema)


def drop_database(admin_url: str, database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1].split("?", 1)[0]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Stack:
    kafka_bootstrap: str
    database_url: str
    redis_url: str
    kafka_port: int = 0
    pg_port: int = 0
    redis_port: int = 0
    run_dir: Path | None = None
    owned: bool = False
    stack_env: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a Fusebox subprocess talking to this stack."""
        env = dict(os.environ)
        env.update(
            FUSEBOX_ENV="dev",
            FUSEBOX_KAFKA_BOOTSTRAP=self.kafka_bootstrap,
            FUSEBOX_DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
        )
        env.update(extra)
        return env

    def run_stack(self, *args: str) -> None:
        subprocess.run(["bash", str(STACK_SH), *args], env=self.stack_env, check=True,
                       stdout=subprocess.DEVNULL)

    def stop_kafka(self) -> None:
        self.run_stack("down", "kafka")

    def start_kafka(self) -> None:
        self.run_stack("up", "kafka")

    def stop_postgres(self) -> None:
        self.run_stack("down", "postgres")

    def start_postgres(self) -> None:
        self.run_stack("up", "postgres")

    def close(self) -> None:
        if self.owned:
            self.run_stack("down")
            if self.run_dir is not None:
                shutil.rmtree(self.run_dir, ignore_errors=True)


def start_stack() -> Stack:
    if os.environ.get("FUSEBOX_TEST_REUSE_STACK") == "1":
        return Stack(
            kafka_bootstrap=os.environ.get("FUSEBOX_KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
            database_url=os.environ.get("FUSEBOX_DATABASE_URL", "postgresql://fusebox@127.0.0.1:15432/fusebox"),
            redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:16379/0"),
            stack_env=dict(os.environ),
        )
    run_dir = Path(tempfile.mkdtemp(prefix="fusebox-test-"))
    run_dir.chmod(0o755)
    kafka_port, pg_port, redis_port = free_port_pair(), free_port(), free_port()
    env = dict(os.environ)
    env.update(
        FUSEBOX_RUN_DIR=str(run_dir),
        FUSEBOX_KAFKA_LIBS=str(ROOT / ".run" / "kafka" / "libs"),
        FUSEBOX_KAFKA_PORT=str(kafka_port),
        FUSEBOX_PG_PORT=str(pg_port),
        FUSEBOX_REDIS_PORT=str(redis_port),
    )
    stack = Stack(
        kafka_bootstrap=f"127.0.0.1:{kafka_port}",
        database_url=f"postgresql://fusebox@127.0.0.1:{pg_port}/fusebox",
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        kafka_port=kafka_port, pg_port=pg_port, redis_port=redis_port,
        run_dir=run_dir, owned=True, stack_env=env,
    )
    try:
        stack.run_stack("up")
    except BaseException:
        stack.close()
        raise
    return stack

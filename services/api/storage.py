"""PostgreSQL access for the gateway: one pool, every call through the gateway's breaker around PostgreSQL."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from fusebox.api.dependency_guard import DependencyBreaker
from fusebox.core import codec
from fusebox.storage.schema import scoped_conninfo

T = TypeVar("T")
POSTGRES_FAILURES: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg.InterfaceError,
                                                      PoolTimeout, OSError)


def jsonb(value) -> Jsonb:
    return Jsonb(value, dumps=lambda v: codec.dumps(v).decode("utf-8"))


def open_pool(database_url: str, schema: str, timeout_s: float) -> AsyncConnectionPool:
    return AsyncConnectionPool(scoped_conninfo(database_url, schema), min_size=1, max_size=10, timeout=timeout_s, open=False,
                               kwargs={"connect_timeout": max(1, int(timeout_s))}, name="fusebox-api")


class Database:
    def __init__(self, pool: AsyncConnectionPool, breaker: DependencyBreaker, timeout_s: float):
        self.pool = pool
        self.breaker = breaker
        self.timeout_s = timeout_s

    async def run(self, work: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` on a pooled connection in one transaction, failing fast while PostgreSQL is down."""

        async def on_connection() -> T:
            async with self.pool.connection(timeout=self.timeout_s) as conn:
                return await work(conn)

        return await self.breaker.call(on_connection, self.timeout_s)

    async def fetch_all(self, query: str, params: tuple) -> list[tuple]:
        """The rows of one SELECT, run like `run`."""

        async def select(conn: psycopg.AsyncConnection) -> list[tuple]:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

        return await self.run(select)

    async def ping(self) -> bool:
        async def select_one(conn: psycopg.AsyncConnection) -> bool:
            await conn.execute("SELECT 1")
            return True

        try:
            return await self.run(select_one)
        except Exception:
            return False

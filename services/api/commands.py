"""Commands to `breaker-commands` (acks=all, idempotent) and their `command-results`, correlated by commandId."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from fusebox.api.dependency_guard import DependencyBreaker
from fusebox.core import codec
from fusebox.core.commands import breaker_command
from fusebox.kafka_security import kafka_client_options
from fusebox.topic_reader import TopicFollower

logger = logging.getLogger("fusebox.api.commands")


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    command_id: str
    result: dict | None
    """The aggregator's CommandResult, or None when it did not arrive within the wait."""


class CommandBus:
    def __init__(self, *, bootstrap: str, commands_topic: str, results_topic: str, breaker: DependencyBreaker,
                 send_timeout_s: float, result_timeout_s: float):
        self.bootstrap = bootstrap
        self.commands_topic = commands_topic
        self.results_topic = results_topic
        self.breaker = breaker
        self.send_timeout_s = send_timeout_s
        self.result_timeout_s = result_timeout_s
        self.results_ready = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Future] = {}

    async def submit(self, service: str, command_type: str, payload: dict, issued_by: str) -> CommandOutcome:
        """Write the command (answers only once Kafka acknowledged it), then wait a while for its result."""
        command_id = str(uuid.uuid4())
        command = breaker_command(command_id, service, command_type, int(time.time() * 1000), issued_by, payload)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        try:
            await self.breaker.call(lambda: self._send(service, codec.dumps(command)), self.send_timeout_s + 1.0)
            try:
                result = await asyncio.wait_for(future, self.result_timeout_s)
            except asyncio.TimeoutError:
                result = None
            return CommandOutcome(command_id, result)
        finally:
            self._pending.pop(command_id, None)

    async def _send(self, service: str, value: bytes) -> None:
        producer = await self._started_producer()
        await producer.send_and_wait(self.commands_topic, value=value, key=service.encode("utf-8"))

    async def _started_producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._producer is None:
                timeout_ms = int(self.send_timeout_s * 1000)
                producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                                            request_timeout_ms=timeout_ms, linger_ms=0,
                                            **kafka_client_options())
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def close(self) -> None:
        for future in self._pending.values():
            future.cancel()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def follow_results(self) -> None:
        """Consume `command-results` from the end (as of start) and resolve the pending commands they answer."""
        await TopicFollower(self.bootstrap, self.results_topic, lambda record: self._resolve(record.value),
                            start="end", max_records=2000, on_connected=self._results_connected,
                            request_timeout_ms=15000).run()

    async def _results_connected(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        self.results_ready.set()

    def _resolve(self, value: bytes | None) -> None:
        try:
            result = codec.loads(value) if value is not None else None
        except codec.DecodeError:
            logger.error("skipped a command-results record that is not JSON")
            return
        command_id = result.get("commandId") if isinstance(result, dict) else None
        if not isinstance(command_id, str):
            return
        future = self._pending.get(command_id)
        if future is not None and not future.done():
            future.set_result(result)

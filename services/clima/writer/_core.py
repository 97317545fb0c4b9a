"""The writer's logic without gRPC: validate, route, publish, and answer with the brokers."""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from clima.contract import Report
from clima.contract.rules import report_problem
from clima.writer._route import brokers_of, messages, route
from clima.writer.errors import BacklogFullError, BrokerRefusedError, BrokerUnavailableError
from clima.writer.settings import Mode

logger = logging.getLogger(__name__)


class Publisher(Protocol):
    """What the writer needs of a broker client, from start to shutdown."""

    @property
    def healthy(self) -> bool:
        """True while the broker looks usable (publishing is refused at once otherwise)."""
        ...

    @property
    def alive(self) -> bool:
        """False once only a restart of the process can mend the client (liveness)."""
        ...

    @property
    def problem(self) -> str:
        """Why the broker cannot be used now ('' while healthy)."""
        ...

    def publish(self, messages: list[tuple[bytes, bytes]]) -> Awaitable[None]: ...

    async def close(self) -> None:
        """Delivers or settles what is in flight, then disconnects."""


class Gate(Protocol):
    """What the writer asks before publishing: why these brokers must refuse now, or None;
    and what it tells after: the sizes of the messages a broker confirmed."""

    def refusal(self, brokers: Iterable[str]) -> str | None: ...

    def published(self, broker: str, sizes: Sequence[int]) -> None: ...


class InvalidReportError(ValueError):
    """A report in the request breaks the contract; the whole request is refused."""


def check(reports: Sequence[Report]) -> None:
    """Raises InvalidReportError naming the first bad report and field."""
    if not reports:
        raise InvalidReportError("reports: the batch is empty")
    for index, report in enumerate(reports):
        problem = report_problem(report)
        if problem is not None:
            raise InvalidReportError(f"reports[{index}].{problem}")


class Writer:
    """Publishes batches to the brokers of the mode; success means all of them confirmed."""

    def __init__(
        self,
        mode: Mode,
        publishers: dict[str, Publisher],
        seed: int | None = None,
        gate: Gate | None = None,
    ):
        missing = [b for b in brokers_of(mode) if b not in publishers]
        if missing:
            raise ValueError(f"mode {mode} needs publishers for {missing}")
        self._mode: Mode = mode
        self._publishers = publishers
        self._rng = random.Random(seed)  # noqa: S311 - spreading load, not security
        self._gate = gate

    @property
    def ready(self) -> bool:
        """True when every broker of the mode looks reachable."""
        return not self.unready()

    @property
    def alive(self) -> bool:
        """False once a publisher can only be mended by a restart of the process."""
        return all(p.alive for p in self._publishers.values())

    async def close(self) -> None:
        """Closes every publisher, settling what each has in flight."""
        for publisher in self._publishers.values():
            await publisher.close()

    def unready(self) -> dict[str, str]:
        """Each broker of the mode that is unreachable now, with why."""
        publishers = {b: self._publishers[b] for b in brokers_of(self._mode)}
        return {b: p.problem or "unavailable" for b, p in publishers.items() if not p.healthy}

    async def write(self, reports: Sequence[Report]) -> list[str]:
        """Makes every report durable; BrokerUnavailableError when any broker cannot confirm.

        BrokerRefusedError (nothing published) when a broker of the mode is known down, and
        its BacklogFullError when the gate says a broker's backlog is over its bound.
        """
        check(reports)
        routed = route(self._mode, reports, self._rng)
        for broker in routed:
            publisher = self._publishers[broker]
            if not publisher.healthy:
                raise BrokerRefusedError(f"{broker}: unavailable ({publisher.problem})")
        refusal = self._gate.refusal(routed) if self._gate is not None else None
        if refusal is not None:
            raise BacklogFullError(refusal)
        batches = {b: messages(batch) for b, batch in routed.items()}
        sends: list[Callable[[], Awaitable[None]]] = [
            _bind(self._publishers[b], batch) for b, batch in batches.items()
        ]
        results = await asyncio.gather(*(send() for send in sends), return_exceptions=True)
        if self._gate is not None:
            for (broker, batch), result in zip(batches.items(), results, strict=True):
                if not isinstance(result, BaseException):
                    self._gate.published(broker, [len(k) + len(v) for k, v in batch])
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            if not all(isinstance(f, BrokerUnavailableError) for f in failures):
                logger.error("unexpected publish failure: %r", failures)
            raise BrokerUnavailableError("; ".join(str(f) for f in failures))
        return sorted(routed)


def _bind(publisher: Publisher, batch: list[tuple[bytes, bytes]]) -> Callable[[], Awaitable[None]]:
    return lambda: publisher.publish(batch)

"""The supervised AMQP connection: bounded attempts, heartbeats, and it never stops trying."""

import asyncio
import time

from clima.common.amqp import HEARTBEAT_S, AmqpLink, with_heartbeat


def test_heartbeat_is_set_unless_the_url_sets_it() -> None:
    """A half-open connection is noticed through heartbeats of a few seconds."""
    assert with_heartbeat("amqp://u:p@h:5672/") == f"amqp://u:p@h:5672/?heartbeat={HEARTBEAT_S}"
    assert with_heartbeat("amqp://h/?heartbeat=7") == "amqp://h/?heartbeat=7"


async def _no_setup(_connection: object) -> str:
    return "session"


async def test_a_peer_that_accepts_but_never_speaks_is_given_up_and_tried_again() -> None:
    """A broker that accepts TCP before it is ready cannot hold an attempt past its timeout."""
    accepted: list[float] = []
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(time.monotonic())
        held.append(writer)  # never answers the AMQP header

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = AmqpLink(f"amqp://u:p@127.0.0.1:{port}/", "test", _no_setup, timeout_s=0.3)
    stop = asyncio.Event()
    running = asyncio.create_task(link.run(stop))
    try:
        while len(accepted) < 3:  # noqa: ASYNC110 - a test polling a fake server
            await asyncio.sleep(0.05)
        assert link.session is None
        assert accepted[2] - accepted[0] < 3 * (0.3 + 0.4) + 1.0
        assert "Timeout" in link.problem or "timed out" in link.problem.lower()
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
        for writer in held:
            writer.close()
        server.close()


async def test_a_refused_port_keeps_being_tried_and_says_why() -> None:
    """Nothing listens: every attempt fails fast, the link keeps trying and names the cause."""
    server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    link = AmqpLink(f"amqp://u:p@127.0.0.1:{port}/", "test", _no_setup, timeout_s=0.3)
    stop = asyncio.Event()
    running = asyncio.create_task(link.run(stop))
    await asyncio.sleep(0.5)
    assert link.session is None
    assert "111" in link.problem  # ECONNREFUSED, worded differently by uvloop and asyncio
    assert not running.done()
    stop.set()
    await asyncio.wait_for(running, 5)
    assert await link.wait_session(stop) is None

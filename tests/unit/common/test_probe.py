"""The probe endpoint: /readyz follows `ready`, /healthz follows `alive`."""

import pytest
from clima_unit_support import http_get

from clima.common.probe import serve_probes


@pytest.mark.parametrize(
    ("ready", "alive", "readyz", "healthz"),
    [(True, True, 200, 200), (False, True, 503, 200), (False, False, 503, 503)],
)
async def test_probe_answers(ready: bool, alive: bool, readyz: int, healthz: int) -> None:
    """Not ready keeps the process alive; a wedged part fails liveness."""
    server = await serve_probes("127.0.0.1", 0, lambda: ready, alive=lambda: alive)
    port = server.sockets[0].getsockname()[1]
    try:
        assert (await http_get(port, "/readyz"))[0] == readyz
        status, body = await http_get(port, "/healthz")
        assert status == healthz
        assert body == (b"ok\n" if alive else b"stalled\n")
    finally:
        server.close()
        await server.wait_closed()


async def test_not_ready_says_what_is_missing() -> None:
    """/readyz names the reason (the writer: which broker is unreachable, and why)."""
    server = await serve_probes(
        "127.0.0.1", 0, lambda: False, why=lambda: "rabbit unreachable (Connection refused)"
    )
    port = server.sockets[0].getsockname()[1]
    try:
        assert await http_get(port, "/readyz") == (
            503,
            b"not ready: rabbit unreachable (Connection refused)\n",
        )
    finally:
        server.close()
        await server.wait_closed()

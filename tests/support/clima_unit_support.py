"""Helpers several unit-test modules share: a batch of valid reports, a raw HTTP GET."""

import asyncio

from clima.contract import Report


def sample_reports(n: int) -> list[Report]:
    """`n` valid reports with ids r0…r(n-1), spread over four municipalities."""
    return [
        Report(
            id=f"r{i}",
            event_time_ms=1_790_000_000_000,
            municipality=1 + i % 4,
            weather=1,
            temperature_c=20,
            humidity_pct=50,
        )
        for i in range(n)
    ]


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    """GET `path` on 127.0.0.1:`port` over a bare connection; the status and the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body

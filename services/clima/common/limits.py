"""Refuses request bodies larger than a limit before they are read into memory (the api's
routes, the proxy's /tweet)."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """ASGI middleware: 413 for bodies over `max_bytes`, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        if declared is None:
            await self._undeclared(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLargeError
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLargeError:
            await self._refuse(send)

    async def _undeclared(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A body without a length (chunked) is read up to the limit before the app sees any
        of it: FastAPI turns an error raised while it reads a body into a 400."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                pending = [message]  # the client left: the app hears it
                break
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                pending = [{"type": "http.request", "body": bytes(body), "more_body": False}]
                break

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = b'{"detail":"body: larger than %d bytes"}' % self.max_bytes
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLargeError(Exception):
    """Raised inside the app when the streamed body passes the limit."""


class InFlight:
    """A bound on the reports a process handles at once: past it a request is refused at
    once (503 refused: nothing was published, resend later) instead of queueing without end
    while a broker is slow. A single request larger than the bound is admitted when nothing
    else is in flight, so it is never refused for good."""

    def __init__(self, limit: int, name: str) -> None:
        self.limit = limit
        self.name = name
        self.reports = 0

    def take(self, reports: int) -> bool:
        """Admits `reports` more (True), or refuses them (False) at the bound."""
        if self.reports and self.reports + reports > self.limit:
            return False
        self.reports += reports
        return True

    def give(self, reports: int) -> None:
        """Returns what `take` admitted, once the request is answered."""
        self.reports -= reports

    def refusal(self, reports: int) -> str:
        """Why `reports` more were refused."""
        return (
            f"busy: {self.reports} reports in flight, {reports} more would pass the bound of "
            f"{self.limit} ({self.name}); resend"
        )

"""Hostile clients for the slow-client tests: connections that trickle a request's headers
(slowloris) or its body (slow POST), from asyncio tasks, and a normal request timed alongside.

Each slow client sends a little every ``pause`` seconds and records when the server answered or
closed the connection, so a test can say how long the server let it hang on.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from dataclasses import field


@dataclass
class SlowClient:
    """One trickling connection and what became of it."""

    kind: str  # "headers" or "body"
    opened_at: float = 0.0
    closed_at: float | None = None  # when the server's answer ended (EOF or reset)
    received: bytes = b""
    sent_after_open: int = 0  # trickles sent: proof that it kept the connection busy
    _alive: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def held_for(self) -> float | None:
        return None if self.closed_at is None else self.closed_at - self.opened_at


def _head(kind: str, host: str, token: str | None) -> bytes:
    if kind == "headers":  # the request line and one header, then never the blank line
        return f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n".encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"POST /scim/v2/Users HTTP/1.1\r\nHost: {host}\r\n{auth}"
            "Content-Type: application/scim+json\r\nContent-Length: 100000\r\n\r\n{").encode()


async def trickle(client: SlowClient, host: str, port: int, *, pause: float, give_up: float,
                  token: str | None = None) -> None:
    """Open the connection and trickle until the server ends it or ``give_up`` seconds pass."""
    client.opened_at = time.monotonic()  # before connecting: the server's clock starts later
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(_head(client.kind, f"{host}:{port}", token))
    await writer.drain()
    client._alive.set()

    async def read_until_closed() -> None:
        try:
            while chunk := await reader.read(65536):
                client.received += chunk
        except ConnectionError:
            pass
        client.closed_at = time.monotonic()

    reading = asyncio.ensure_future(read_until_closed())
    deadline = client.opened_at + give_up
    try:
        while not reading.done() and time.monotonic() < deadline:
            await asyncio.wait([reading], timeout=pause)
            if reading.done():
                break
            piece = b"X-Slow: 1\r\n" if client.kind == "headers" else b" "
            try:
                writer.write(piece)
                await writer.drain()
                client.sent_after_open += 1
            except ConnectionError:
                await reading
                break
    finally:
        if not reading.done():
            reading.cancel()
        writer.close()


async def timed_get(host: str, port: int, path: str, token: str | None = None
                    ) -> tuple[int, float]:
    """One plain HTTP/1.1 GET on a new connection: (status, seconds until the whole answer)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}"
                 "Connection: close\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()  # to EOF: the whole response
    elapsed = time.monotonic() - started
    writer.close()
    return int(answer.split(b" ", 2)[1]), elapsed


async def pipelined_slow_body(host: str, port: int, *, pause: float, give_up: float
                              ) -> tuple[bytes, float]:
    """A whole GET, then at once a POST whose body trickles: (all received, seconds until the
    server closed the connection, or ``give_up``)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n"
                 f"POST /scim/v2/Users HTTP/1.1\r\nHost: {host}\r\n"
                 "Content-Type: application/scim+json\r\nContent-Length: 100000\r\n\r\n{".encode())
    await writer.drain()
    received = b""
    while time.monotonic() - started < give_up:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), pause)
        except TimeoutError:
            try:
                writer.write(b" ")
                await writer.drain()
            except ConnectionError:
                break
            continue
        except ConnectionError:
            break
        if not chunk:
            break
        received += chunk
    writer.close()
    return received, time.monotonic() - started

"""How gunicorn serves the Flask app: an asyncio worker in front, the WSGI app on a thread pool.

Why: with sync workers (or gthread) a connection holds a worker or a thread from its first byte
to its last, so a few clients that trickle their headers or body (slowloris, slow POST) took
the service down. Here gunicorn's own asyncio worker (``gunicorn.workers.gasgi``, gunicorn 27)
holds every connection while it is being read, at the cost of a few kilobytes each, and
``WsgiBridge`` calls the Flask app on one of ``FRONTDESK_THREADS`` threads only once the whole
request, body included, has arrived. ``Worker`` adds the one thing gunicorn's worker lacks: a
deadline for reading a request (``FRONTDESK_CLIENT_TIMEOUT_SECONDS``, headers and body
together), after which the client gets a 408 and the connection is closed.

Not asgiref's ``WsgiToAsgi``: it runs every request of a process on one thread and never calls
the response's ``close()`` (which ends streamed downloads and their database reads).
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from collections.abc import Callable
from collections.abc import Coroutine
from collections.abc import Iterable
from collections.abc import MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_to_bytes

from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi

import config

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Coroutine[Any, Any, Message]]
Send = Callable[[Message], Coroutine[Any, Any, None]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _DisconnectedError(Exception):
    """The client went away (or was cut off) before its request was whole."""


class WsgiBridge:
    """An ASGI application that runs a WSGI application on a pool of threads.

    The body is read in full on the event loop before a thread is taken (up to ``max_body``
    bytes plus one: enough for the app to see it is too large and answer 413 itself), and the
    response is streamed back chunk by chunk, each waiting for the client to take the last.
    """

    def __init__(self, app: WsgiApp, *, threads: int, max_body: int) -> None:
        self.app = app
        self.threads = max(1, threads)
        self.max_body = max_body
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:  # made in the worker, after gunicorn forks it
                self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="wsgi")
            return self._executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets: nothing here speaks them
            return
        try:
            body, cut = await self._read_body(receive)
        except _DisconnectedError:
            return
        environ = self._environ(scope, body)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool(), self._run, environ, cut, loop, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._executor is not None:
                    self._executor.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool]:
        """The whole body, or its first ``max_body + 1`` bytes and True (the rest unread)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _DisconnectedError
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_body:
                return b"".join(chunks)[: self.max_body + 1], True
            if not message.get("more_body", False):
                return b"".join(chunks), False

    @staticmethod
    def _environ(scope: Scope, body: bytes) -> dict[str, Any]:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = unquote_to_bytes(raw_path.split(b"?", 1)[0]).decode("latin-1")
        root = scope.get("root_path", "").encode().decode("latin-1")
        server = scope.get("server") or ("localhost", 80)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": scope["method"],
            "SCRIPT_NAME": root,
            "PATH_INFO": path[len(root):] if root and path.startswith(root) else path,
            "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
            "SERVER_NAME": str(server[0]),
            "SERVER_PORT": str(server[1] or 80),
            "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.get("scheme", "http"),
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if scope.get("client"):
            environ["REMOTE_ADDR"] = str(scope["client"][0])
            environ["REMOTE_PORT"] = str(scope["client"][1])
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").upper().replace("-", "_")
            value = raw_value.decode("latin-1")
            key = name if name in {"CONTENT_TYPE", "CONTENT_LENGTH"} else f"HTTP_{name}"
            if key in environ:  # repeated headers are joined, as gunicorn's WSGI workers do
                value = f"{environ[key]},{value}"
            environ[key] = value
        return environ

    def _run(self, environ: dict[str, Any], cut: bool, loop: asyncio.AbstractEventLoop,
             send: Send) -> None:
        """On a pool thread: call the app and hand its response to the event loop."""
        def deliver(message: Message) -> None:
            asyncio.run_coroutine_threadsafe(send(message), loop).result()

        start: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Callable[[bytes], None]:
            if exc_info is not None and start.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            fields = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
            if cut:  # the rest of an over-long body is still on the socket: do not reuse it
                fields.append((b"connection", b"close"))
            start.update(status=int(status.split(" ", 1)[0]), headers=fields)
            return lambda data: None  # the legacy write() callable: nothing here uses it

        result = self.app(environ, start_response)
        try:
            held: bytes | None = None
            for chunk in result:
                if not chunk:
                    continue
                if not start.get("sent"):
                    deliver({"type": "http.response.start", "status": start["status"],
                             "headers": start["headers"]})
                    start["sent"] = True
                if held is not None:
                    deliver({"type": "http.response.body", "body": held, "more_body": True})
                held = chunk
            if not start.get("sent"):
                deliver({"type": "http.response.start", "status": start["status"],
                         "headers": start["headers"]})
            deliver({"type": "http.response.body", "body": held or b"", "more_body": False})
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()


class ReadDeadlineProtocol(ASGIProtocol):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's HTTP/1 connection, with a deadline for reading each request.

    Armed when the connection opens and whenever it waits for its next request (or, for a
    request pipelined behind one still running, when its headers are read); disarmed when a
    request's body is complete. gunicorn's own timers cover the rest (``keepalive`` between
    requests). Expiry answers 408 and closes the connection, whatever it was doing.
    """

    _read_deadline: asyncio.TimerHandle | None = None

    def _arm_read_deadline(self) -> None:
        self._disarm_read_deadline()
        seconds = self.worker.client_timeout
        self._read_deadline = self.worker.loop.call_later(seconds, self._read_timed_out)

    def _disarm_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self._closed:
            return
        self._send_error_response(408, "The request was not received in time.")
        self._close_transport()
        if self._request_ready is not None:
            self._request_ready.set()  # the connection loop sees it closed and ends

    def _start_http1(self, buffered: bytes = b"") -> None:
        self._arm_read_deadline()  # first: the buffered bytes may already be a whole request
        super()._start_http1(buffered)

    def _arm_keepalive_timer(self) -> None:
        super()._arm_keepalive_timer()
        self._arm_read_deadline()

    def _on_headers_complete(self) -> Any:
        if self._read_deadline is None:  # a pipelined request, read while the last one ran
            self._arm_read_deadline()
        return super()._on_headers_complete()

    def _on_message_complete(self) -> None:
        self._disarm_read_deadline()
        super()._on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_deadline()
        super().connection_lost(exc)


class Worker(gasgi.ASGIWorker):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's asyncio worker serving ``ReadDeadlineProtocol`` connections.

    ``worker_class = "app.web.serving.Worker"`` in ``config/gunicorn_conf.py``.
    """

    client_timeout: float = 10.0

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """gunicorn's check warns that threads are unused: here they run the WSGI app."""

    def init_process(self) -> None:
        self.client_timeout = float(config.load().client_timeout_seconds)
        # gasgi builds its connections with the module's ASGIProtocol; this process only ever
        # serves Frontdesk, so that name is rebound to the subclass here, after the fork.
        gasgi.ASGIProtocol = ReadDeadlineProtocol
        super().init_process()

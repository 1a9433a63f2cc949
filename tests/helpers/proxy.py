"""A real TCP forwarder in front of a database server, that a test cuts and restores.

The PostgreSQL server is shared by every engineer and test worker on the machine, so an outage
is never made by stopping it: the app under test reaches it through this proxy instead, and
``cut()`` closes every forwarded connection and every new one at once (what a dead or
restarting server looks like to the driver); ``stall()`` accepts new connections and never
answers (a server whose packets are dropped); ``restore()`` forwards again.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class TcpProxy:
    """Forward 127.0.0.1:<port> to ``target``; one thread per direction of each connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._stalled = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.accepted = 0  # connections accepted, forwarded or refused
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._thread.start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def cut(self) -> None:
        """Close every forwarded connection; refuse (accept and close) new ones until restored."""
        self._cut.set()
        self._close_open()

    def stall(self) -> None:
        """Accept new connections and never answer them, until restored."""
        self._stalled.set()

    def restore(self) -> None:
        """Forward new connections again."""
        self._cut.clear()
        self._stalled.clear()

    def close(self) -> None:
        self._closed.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        except OSError:
            pass
        self._listener.close()
        self._close_open()
        self._thread.join(5)

    def _close_open(self) -> None:
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self._cut.is_set():
                client.close()
                continue
            if self._stalled.is_set():
                with self._lock:
                    self._open.add(client)  # held open, silent; closed by cut() or close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.difference_update((source, sink))
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

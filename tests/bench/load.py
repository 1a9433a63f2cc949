"""A closed-loop HTTP/1.1 load generator: a few threads, raw sockets, pre-built requests.

Each connection sends a request, reads the whole response, and sends the next one; when the
server closes the connection after a response, the client reconnects (the connect is then
inside the measured latency, as it is for any client of such a server). Requests are built
before the clock starts, responses are parsed just enough to find their end, and the client's
own CPU time is measured so a saturated client shows up in the report instead of in the
figures. ``run_flow`` times a sequence of requests per iteration instead (a request, then its
approval with the id from the first answer); those are built as the flow goes.
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import TypeVar

T = TypeVar("T")

# Given a response's status and body, return None when it is right, else what is wrong.
Check = Callable[[int, bytes], str | None]


def build_request(method: str, path: str, host: str, headers: dict[str, str],
                  body: bytes | None = None) -> bytes:
    """Return the bytes of one HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class RequestSource:
    """Hands out requests to the threads: ``make(i)`` for i = 0, 1, ... below ``limit``."""

    def __init__(self, make: Callable[[int], bytes], limit: int | None = None) -> None:
        self.make = make
        self.limit = limit
        self.next = 0
        self.lock = threading.Lock()

    def take(self) -> bytes | None:
        with self.lock:
            i = self.next
            if self.limit is not None and i >= self.limit:
                return None
            self.next += 1
        return self.make(i)


@dataclass
class Result:
    """The figures of one scenario's measured window."""

    name: str
    latencies_ms: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    errors: int = 0
    first_error: str | None = None
    client_cpu: float = 0.0  # client CPU seconds / wall seconds (1.0 = one core busy)
    cpu: dict[str, float] | None = None  # cores used in the window: server, postgres, other
    exhausted: bool = False  # the scenario ran out of unique inputs before its time was up

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)  # nearest rank
        return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def rps(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "requests": self.count, "errors": self.errors,
            "first_error": self.first_error, "seconds": round(self.elapsed, 3),
            "p50_ms": round(self.p50, 3), "p99_ms": round(self.p99, 3),
            "rps": round(self.rps, 1), "client_cpu": round(self.client_cpu, 3),
            "exhausted": self.exhausted, "cpu_cores": self.cpu,
        }


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.sock: socket.socket | None = None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def roundtrip(self, request: bytes) -> tuple[int, bytes]:
        """Send one request and return (status, body); reconnect when the server closed."""
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=60)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = self.sock
        sock.sendall(request)
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection before answering")
            buf += data
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length: int | None = None
        close = lines[0].startswith(b"HTTP/1.0")
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        if length is None and status not in (204, 304):
            close = True  # read to the end of the stream
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                body += data
        else:
            length = length or 0
            while len(body) < length:
                data = sock.recv(max(65536, length - len(body)))
                if not data:
                    raise ConnectionError("the server closed the connection mid-body")
                body += data
        if close:
            self.close()
        return status, body


def _ticks(pid: int | str, children: bool = False) -> int:
    """User + system CPU of a process in clock ticks (0 when it is gone); with ``children``,
    also that of its children that exited and were waited for (e.g. ``xmlsec1`` runs)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return 0
    own = int(fields[11]) + int(fields[12])
    return own + int(fields[13]) + int(fields[14]) if children else own


def _machine_ticks() -> tuple[int, int]:
    """(busy, stolen) clock ticks of the whole machine: user+nice+system+irq+softirq, steal."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]] + [0] * 8
    return v[0] + v[1] + v[2] + v[5] + v[6], v[7]


def _postgres_pids() -> list[str]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as fh:
                    if fh.read().strip() == "postgres":
                        pids.append(entry)
            except OSError:
                continue
    return pids


class CpuMeter:
    """Who used the CPU during a window: the server's processes, PostgreSQL, the client (this
    process), everything else on the machine ("other"), and what the hypervisor took ("steal");
    the last two spoil the figures. Linux only; elsewhere ``stop`` returns None."""

    def __init__(self, server_pids: Callable[[], list[int]], *, children: bool = False) -> None:
        self.server_pids = server_pids
        self.children = children  # count the server's finished subprocesses as the server's
        self.enabled = os.path.exists("/proc/stat")

    def _sample(self) -> tuple[float, dict[str, Any]]:  # ticks: machine, or {pid: ticks}
        busy, steal = _machine_ticks()
        return time.perf_counter(), {
            "total": busy,
            "steal": steal,
            "server": {p: _ticks(p, self.children) for p in self.server_pids()},
            "postgres": {p: _ticks(p) for p in _postgres_pids()},
            "client": _ticks("self"),
        }

    def start(self) -> None:
        if self.enabled:
            self.first = self._sample()

    def stop(self) -> dict[str, float] | None:
        if not self.enabled:
            return None
        (t0, a), (t1, b) = self.first, self._sample()
        hz = os.sysconf("SC_CLK_TCK") * max(t1 - t0, 1e-9)
        cores: dict[str, float] = {}
        for key, before in a.items():
            if isinstance(before, dict):  # per process; one that came or went is left out
                after = b[key]
                cores[key] = sum(after[p] - before[p] for p in before if after.get(p)) / hz
            else:
                cores[key] = (b[key] - before) / hz
        cores["other"] = max(0.0, cores["total"] - cores["server"] - cores["postgres"]
                             - cores["client"])
        return {k: round(v, 2) for k, v in cores.items()}


BUSY_CORES = 0.25  # others' CPU (processes, steal) that spoils a scenario, as in run.py
_CPU_COLUMNS = (("server", 6), ("postgres", 5), ("client", 6), ("other", 5), ("steal", 5))


def table_head(cpu_note: str = "CPU cores used") -> list[str]:
    """The two header lines of a table of ``table_row`` lines."""
    return [f"{'':54} {'':>8} {'':>8} {'':>7} {'':>8} {'':>6}   {cpu_note}",
            f"{'scenario':54} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7} {'requests':>8} "
            f"{'errors':>6}   {'server':>6} {'pg':>5} {'client':>6} {'other':>5} {'steal':>5}"]


def table_row(r: dict[str, Any], name: str | None = None) -> str:
    """One scenario (``Result.as_dict()``) as a table line; flagged when others took the CPU."""
    cpu = r.get("cpu_cores") or {}
    cores = " ".join(f"{cpu[k]:{w}.2f}" if k in cpu else f"{'?':>{w}}" for k, w in _CPU_COLUMNS)
    busy = cpu.get("other", 0) + cpu.get("steal", 0) > BUSY_CORES
    label = name if name is not None else r["name"][:54]
    return (f"{label:54} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{r['rps']:7.1f} {r['requests']:8d} {r['errors']:6d}   {cores}"
            + ("  <- machine busy" if busy else ""))


def print_table(say: Callable[[str], None], rows: list[tuple[str | None, dict[str, Any]]],
                part: str, cpu_note: str = "CPU cores used") -> list[str]:
    """Print the header and one line per (name or None: the result's own, ``Result.as_dict()``);
    return their errors as problems of ``part``, for the targets list."""
    problems: list[str] = []
    for line in table_head(cpu_note):
        say(line)
    for name, r in rows:
        say(table_row(r, name))
        if r["errors"]:
            problems.append(f"{part} {name or r['name']}: {r['errors']} error(s); first: "
                            f"{r['first_error']}")
    return problems


def merge(name: str, results: list[Result]) -> Result:
    """One result of several measured windows of the same scenario (their requests pooled)."""
    merged = Result(name)
    for r in results:
        merged.latencies_ms.extend(r.latencies_ms)
        merged.elapsed += r.elapsed
        merged.errors += r.errors
        merged.first_error = merged.first_error or r.first_error
        merged.exhausted = merged.exhausted or r.exhausted
    seconds = sum(r.elapsed for r in results) or 1.0
    merged.client_cpu = sum(r.client_cpu * r.elapsed for r in results) / seconds
    metered = [r for r in results if r.cpu]
    if metered:
        keys = {key for r in metered for key in r.cpu or {}}
        merged.cpu = {key: sum((r.cpu or {}).get(key, 0.0) * r.elapsed for r in metered)
                      / (sum(r.elapsed for r in metered) or 1.0) for key in sorted(keys)}
    return merged


# One round trip on a connection: send a request, return (status, body); raises OSError.
Send = Callable[[bytes], tuple[int, bytes]]
# One timed iteration of a flow: given ``send`` and the iteration number, make its requests and
# return None when every answer is right, else what is wrong.
Flow = Callable[[Send, int], str | None]


def run(name: str, host: str, port: int, source: RequestSource, *, check: Check,
        concurrency: int, warmup: float, duration: float, checked: int = 20,
        meter: CpuMeter | None = None, status_ok: Callable[[int], bool] | None = None
        ) -> Result:
    """Warm up, then measure for ``duration`` seconds with ``concurrency`` connections.

    The first ``checked`` responses (warm-up included) go through ``check``; every response
    also needs a 2xx status (or one ``status_ok`` accepts) to count. A request that fails is
    counted as an error, not timed.
    """
    accept = status_ok or (lambda status: 200 <= status < 300)
    lock = threading.Lock()
    checks_left = [checked]

    def attempt(send: Send, request: bytes) -> str | None:
        status, body = send(request)
        problem = None if accept(status) else f"HTTP {status}: {body[:300]!r}"
        if problem is None and checks_left[0] > 0:
            with lock:
                checks_left[0] -= 1
            problem = check(status, body)
        return problem
    return _drive(name, host, port, source.take, attempt, concurrency=concurrency,
                  warmup=warmup, duration=duration, meter=meter)


def run_flow(name: str, host: str, port: int, flow: Flow, *, concurrency: int, warmup: float,
             duration: float, meter: CpuMeter | None = None) -> Result:
    """Like ``run``, but each timed iteration is ``flow(send, i)``: several requests in turn
    (e.g. one that uses an id from the answer to the one before); its latency is the whole
    flow's. ``flow`` checks every answer itself."""
    counter = itertools.count()
    return _drive(name, host, port, lambda: next(counter), flow, concurrency=concurrency,
                  warmup=warmup, duration=duration, meter=meter)


def _drive(name: str, host: str, port: int, take: Callable[[], T | None],
           attempt: Callable[[Send, T], str | None], *, concurrency: int, warmup: float,
           duration: float, meter: CpuMeter | None) -> Result:
    """The closed loop: each connection takes an item and times ``attempt`` on it, until the
    time is up or ``take`` runs out (None)."""
    result = Result(name)
    lock = threading.Lock()
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration
    last_done = [measure_from]

    def worker() -> None:
        conn = _Connection(host, port)
        mine: list[float] = []
        try:
            while True:
                began = time.perf_counter()
                if began >= stop_at:
                    break
                item = take()
                if item is None:
                    result.exhausted = True
                    break
                try:
                    problem = attempt(conn.roundtrip, item)
                except OSError as err:
                    conn.close()
                    problem = f"{type(err).__name__}: {err}"
                done = time.perf_counter()
                if began < measure_from:
                    continue
                if problem is not None:
                    with lock:
                        result.errors += 1
                        result.first_error = result.first_error or problem
                    continue
                mine.append((done - began) * 1000)
                if done > last_done[0]:
                    last_done[0] = done
        finally:
            conn.close()
            with lock:
                result.latencies_ms.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    # Client CPU over the measured window only.
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if meter is not None:
        meter.start()
    for thread in threads:
        thread.join()
    cpu1, wall1 = time.process_time(), time.perf_counter()
    if meter is not None:
        result.cpu = meter.stop()
    result.elapsed = max(last_done[0] - measure_from, 1e-9)
    result.client_cpu = (cpu1 - cpu0) / max(wall1 - wall0, 1e-9)
    return result

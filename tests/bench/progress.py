"""A one-line progress bar on stderr; no dependency."""

from __future__ import annotations

import sys
import time


class Progress:
    """``with Progress(total, "users") as bar: bar.advance(n)`` redraws at most 5 times a second."""

    def __init__(self, total: int, label: str, width: int = 30) -> None:
        self.total, self.label, self.width = max(total, 1), label, width
        self.done = 0
        self.started = self.drawn = time.monotonic()

    def __enter__(self) -> Progress:
        self._draw()
        return self

    def advance(self, n: int = 1) -> None:
        self.done += n
        if time.monotonic() - self.drawn >= 0.2 or self.done >= self.total:
            self._draw()

    def _draw(self) -> None:
        self.drawn = now = time.monotonic()
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        sys.stderr.write(f"\r  [{bar}] {self.done:>7,}/{self.total:,} {self.label}"
                         f"  {rate:6.0f}/s  {elapsed:5.0f}s elapsed, ~{eta:4.0f}s left ")
        sys.stderr.flush()

    def __exit__(self, *_exc: object) -> None:
        self._draw()
        sys.stderr.write("\n")
        sys.stderr.flush()

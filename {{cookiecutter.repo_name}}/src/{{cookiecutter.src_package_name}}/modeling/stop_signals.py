"""SIGTERM and Ctrl-C as exceptions, so that a stopped run unwinds and can be marked KILLED."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class Terminated(SystemExit):
    """SIGTERM arrived: unwind (ending runs as KILLED) and exit with status 143."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


class StopSignals:
    """Turn SIGTERM and SIGINT into exceptions while installed, and remember which came.

    SIGTERM raises :class:`Terminated` (a ``SystemExit``), SIGINT raises
    ``KeyboardInterrupt``, so ``with`` blocks and ``finally`` clauses run and
    the run can be marked KILLED. Without a handler Python dies on SIGTERM
    without unwinding, and as PID 1 in a container it ignores SIGTERM until
    the kubelet sends SIGKILL. A second SIGTERM while stopping is ignored (the
    clean-up runs to its end; SIGKILL still forces); a second Ctrl-C interrupts
    the clean-up. A signal already ignored (SIGINT in a background job of a
    script) stays ignored. Handlers exist only in the main thread; elsewhere
    this does nothing. Installs nest: each restores what it found.
    """

    received: str | None = None

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}

    @classmethod
    def _handle(cls, signum: int, frame: FrameType | None) -> None:
        del frame
        first = cls.received is None
        if first:
            cls.received = signal.Signals(signum).name
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        if first:
            raise Terminated()

    def install(self) -> StopSignals:
        """Install the handlers (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN:
                continue
            self._previous[signum] = previous
            signal.signal(signum, self._handle)
        return self

    def restore(self) -> None:
        """Put back the handlers found by :meth:`install`."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.restore()


def stop_signal() -> str | None:
    """Name of the signal (``SIGTERM``, ``SIGINT``) that is stopping this process, if any."""
    return StopSignals.received

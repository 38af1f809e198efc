"""SIGTERM and Ctrl-C as exceptions, so that a stopped run unwinds and can be marked KILLED."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

#: The signal (``SIGTERM``, ``SIGINT``) that is stopping this process, once one came.
_RECEIVED: list[str] = []


class Terminated(SystemExit):
    """SIGTERM arrived: unwind (ending runs as KILLED) and exit with status 143."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


def _handle(signum: int, frame: FrameType | None) -> None:
    del frame
    first = not _RECEIVED
    if first:
        _RECEIVED.append(signal.Signals(signum).name)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    if first:
        raise Terminated()


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into exceptions inside the block, and remember which came.

    SIGTERM raises :class:`Terminated` (a ``SystemExit``), SIGINT raises
    ``KeyboardInterrupt``, so ``with`` blocks and ``finally`` clauses run and
    the run can be marked KILLED. Without a handler Python dies on SIGTERM
    without unwinding, and as PID 1 in a container it ignores SIGTERM until
    the kubelet sends SIGKILL. A second SIGTERM while stopping is ignored (the
    clean-up runs to its end; SIGKILL still forces); a second Ctrl-C interrupts
    the clean-up. A signal already ignored (SIGINT in a background job of a
    script) stays ignored. Handlers exist only in the main thread; elsewhere
    this does nothing. Blocks nest: each restores what it found.
    """
    main = threading.current_thread() is threading.main_thread()
    found = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    previous = {signum: handler for signum, handler in found.items()
                if main and handler is not signal.SIG_IGN}  # fmt: skip
    for signum in previous:
        signal.signal(signum, _handle)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_signal() -> str | None:
    """Name of the signal (``SIGTERM``, ``SIGINT``) that is stopping this process, if any."""
    return _RECEIVED[0] if _RECEIVED else None

"""A signal handled one way for the length of a block, and the old handler back after.

Python runs signal handlers only in the main thread; called from another thread (a test
runner's, an embedding application's) the block runs with the handlers as they are.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Handler = Callable[[int, Any], None] | int


@contextmanager
def handled(signum: int, handler: Handler) -> Iterator[None]:
    """`handler` (a function, or signal.SIG_IGN) for `signum` while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    original = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, original)

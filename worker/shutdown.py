"""The worker's stop flag: set on SIGTERM's warm shutdown, read at every epoch boundary."""

import threading

_stop = threading.Event()


def request_stop() -> None:
    """Ask running training to checkpoint at the next epoch end and hand its work back."""
    _stop.set()


def stop_requested() -> bool:
    """Whether the worker is shutting down."""
    return _stop.is_set()

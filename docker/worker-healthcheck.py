"""The worker container's health check: healthy once this host's worker publishes a heartbeat
(it is ready: TensorFlow loaded, the device known) and has loaded its dataset.

Exit 0 and "ok", or exit 1 and the reason (shown by `docker inspect` and `docker compose ps`).
"""

import socket
import sys

from models.jobs import live_workers, redis_client
from models.storage import get_settings


def main() -> int:
    """Check this host's heartbeat; the exit status of the check."""
    settings = get_settings()
    try:
        workers = live_workers(redis_client(settings.broker_url, timeout=2))
    except Exception as exc:  # any failure to read the broker is an unhealthy answer
        print(f"cannot read the heartbeats at the broker: {exc}")
        return 1
    mine = [w for w in workers if w.host == socket.gethostname()]
    if not mine:
        print("no heartbeat from this container's worker yet (starting, or gone)")
        return 1
    problems = [w.dataset_error for w in mine if w.dataset_error]
    if problems:
        print(problems[0])
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

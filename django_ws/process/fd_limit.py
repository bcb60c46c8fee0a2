"""The open-files limit: every WebSocket connection is a file descriptor.

Linux starts processes with a soft ``RLIMIT_NOFILE`` of 1024 (often with a
hard limit far above it), which a WebSocket server reaches long before its
memory or CPU: accepting then fails with ``EMFILE``. ``runws`` and the
gunicorn worker raise the soft limit to the hard one at start, as any
process may (nginx's ``worker_rlimit_nofile``, systemd's ``LimitNOFILE``
set the hard one).
"""

from __future__ import annotations

import logging

__all__ = ["MARGIN", "open_files_limit", "raise_open_files_limit"]

logger = logging.getLogger("django_ws.server")

#: Descriptors a process needs besides its connections: the listening
#: socket, the database, Redis, log files, the autoreloader.
MARGIN = 64


def open_files_limit() -> tuple[int, int]:
    """The (soft, hard) ``RLIMIT_NOFILE`` of this process; -1 for no limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def raise_open_files_limit() -> tuple[int, int] | None:
    """Raise the soft open-files limit to the hard one; log and return (old, new).

    Returns None when there was nothing to raise (or the platform refuses).
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        # Linux refuses an infinite soft limit: its ceiling is fs.nr_open.
        try:
            with open("/proc/sys/fs/nr_open") as nr_open:
                target = int(nr_open.read())
        except (OSError, ValueError):
            return None
    if soft != resource.RLIM_INFINITY and soft >= target:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError) as exc:
        logger.warning("could not raise the open-files limit (RLIMIT_NOFILE) from %d to %d: %s",
                       soft, target, exc)
        return None
    logger.info("raised the open-files limit (RLIMIT_NOFILE) from %d to %d", soft, target)
    return soft, target

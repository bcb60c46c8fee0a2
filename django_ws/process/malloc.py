"""glibc malloc settings for a server that handles large messages.

A message of a few hundred KiB or more is several large buffers (the
parser's, the unmasked payload, the view's copy). With glibc's defaults the
first ones are mapped and unmapped with ``mmap``; after that glibc raises
its thresholds, takes them from the heap, and gives the heap's top back to
the kernel whenever more than twice the last size is free, which is after
nearly every message. Either way each message faults its memory in again,
page by page: measured here (bench S3, 1 MiB echo), that is half the
server's CPU, and whether a process ends up in one mode or the other
varies from run to run.

:func:`tune_malloc` fixes the thresholds where glibc's own adjustment tends
to: buffers below 4 MiB come from the heap, and up to 16 MiB of free heap
stays with the process. S3 goes from about 1,100 to 2,200 MiB/s. ``runws`` and
the gunicorn worker call it at start unless ``WEBSOCKET_TUNE_MALLOC`` is
False; it does nothing on other C libraries, or when the operator set
glibc's own ``MALLOC_*_`` variables.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "tune_malloc"]

logger = logging.getLogger("django_ws.malloc")  # its name before the move

#: Allocations from this size on are mapped on their own (glibc: 128 KiB,
#: raised at run time up to 32 MiB).
MMAP_THRESHOLD = 4 * 1024 * 1024
#: Free memory at the heap's top kept rather than given back (glibc: 128 KiB,
#: raised at run time up to 64 MiB).
TRIM_THRESHOLD = 16 * 1024 * 1024

# mallopt() parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: The environment variables through which an operator tunes glibc malloc.
_OPERATOR_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def tune_malloc() -> bool:
    """Set glibc malloc's thresholds for large messages; True if it did."""
    if any(name in os.environ for name in _OPERATOR_VARIABLES):
        return False  # the operator's choice stands
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    logger.debug("glibc malloc thresholds %s", "set" if tuned else "refused")
    return tuned

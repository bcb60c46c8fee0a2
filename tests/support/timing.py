"""The tests' one timeout unit, and waiting on a condition with it.

Every wait in a test comes from ``TIMEOUT``; raise
``DJANGO_WS_TEST_TIMEOUT_SCALE`` on a slow machine, never lower a test's.
"""

from __future__ import annotations

import os
import time

#: One unit for every blocking call in the tests (websockets' MS idea):
#: raise DJANGO_WS_TEST_TIMEOUT_SCALE on a slow machine, never lower a test.
UNIT = float(os.environ.get("DJANGO_WS_TEST_TIMEOUT_SCALE", "1"))
TIMEOUT = 10 * UNIT


def wait_for(function, timeout=TIMEOUT, interval=0.02):
    """Poll until ``function()`` returns a truthy value; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = function()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{function} stayed falsy for {timeout} s")
        time.sleep(interval)

"""Settings for bench/studies/threads.py: the bench project's (bench_djws.settings), as they are.

Only the URLconf differs, and WEBSOCKET_THREADS comes from the environment
(BENCH_THREADS_POOL), since the idle-connection cell needs one thread per
connection. bench/servers/django_ws_project must be on PYTHONPATH too.
"""

import os

from bench_djws.settings import *  # noqa: F403

ROOT_URLCONF = "bench_threads.urls"
WEBSOCKET_THREADS = int(os.environ.get("BENCH_THREADS_POOL", "32"))

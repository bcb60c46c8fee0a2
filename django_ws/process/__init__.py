"""Setting up a server process: gevent's monkey-patching (``patching.py``),
glibc malloc's thresholds (``malloc.py``), the open-files limit
(``fd_limit.py``). No Django, no other layer: the server, the app's
``ready()`` (runws's early patch) and the checks use them."""

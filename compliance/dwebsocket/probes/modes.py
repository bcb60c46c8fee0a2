"""The server modes the probes need, and which probes run in which."""

#: Server modes: the environment each needs (see settings.py).
MODES = {
    "decorators": {"DWEBSOCKET_PROBES_MIDDLEWARE": "0"},
    "middleware": {"DWEBSOCKET_PROBES_MIDDLEWARE": "1"},
    "accept_all": {"DWEBSOCKET_PROBES_MIDDLEWARE": "1", "DWEBSOCKET_PROBES_ACCEPT_ALL": "1"},
}
#: The probes of undecorated views, which need the library's middleware;
#: every other probe runs in "decorators".
PROBE_MODES = {
    "flagged": "middleware", "flagged_required": "middleware", "undecorated": "middleware",
    "accept_all": "accept_all",
}

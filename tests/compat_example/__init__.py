"""dwebsocket's example project, for the compat layer's test (no network needed)."""

"""An app whose ready() starts a thread, as dwebsocket pushers did (issue 22)."""

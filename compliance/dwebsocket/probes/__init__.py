"""Probe views run on dwebsocket 0.5.12 and on django_ws.compat.dwebsocket (see driver.py)."""

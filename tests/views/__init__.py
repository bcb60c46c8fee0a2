"""Views the live tests drive, each showing one behaviour, by area.

What a view observes server-side is stored in ``probes.PROBES`` and read
back over HTTP from ``/probe/<key>/``, so tests can check what the view saw.
"""

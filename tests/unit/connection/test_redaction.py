"""Secrets in query strings are redacted in what we log (unit; the live test greps logs)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from django_ws.connection.redaction import redact_query, redact_requestline, redact_target


@pytest.mark.parametrize(("query", "expected"), [
    ("token=SECRET", "token=[redacted]"),
    ("room=1&token=SECRET&page=2", "room=1&token=[redacted]&page=2"),
    ("access_token=S&refresh_token=S&x-api-key=S&API_KEY=S",
     "access_token=[redacted]&refresh_token=[redacted]&x-api-key=[redacted]&API_KEY=[redacted]"),
    ("monkey=1&keyboard=2&tokens=3", "monkey=1&keyboard=2&tokens=3"),  # whole names only
    ("token=&token", "token=&token"),  # nothing to hide
    ("sig%6eature=S", "sig%6eature=[redacted]"),  # the name as the server decodes it
    ("", ""),
    # camelCase, brackets, and the names OAuth and Django use.
    ("accessToken=S&authToken=S&APIKey=S",
     "accessToken=[redacted]&authToken=[redacted]&APIKey=[redacted]"),
    ("token[]=S&user[token]=S&token%5B%5D=S",
     "token[]=[redacted]&user[token]=[redacted]&token%5B%5D=[redacted]"),
    ("code=S&refresh=S&bearer=S&csrfmiddlewaretoken=S",
     "code=[redacted]&refresh=[redacted]&bearer=[redacted]&csrfmiddlewaretoken=[redacted]"),
    ("tokenizer=1&postcode=2&barcode_type=3", "tokenizer=1&postcode=2&barcode_type=3"),
])
def test_redact_query(query, expected):
    assert redact_query(query) == expected


def test_targets_and_request_lines_keep_everything_else():
    assert redact_target("/ws/feed/?token=S&room=a%20b") == "/ws/feed/?token=[redacted]&room=a%20b"
    assert redact_target("/ws/feed/") == "/ws/feed/"
    assert (redact_requestline("GET /ws/?auth=S HTTP/1.1")
            == "GET /ws/?auth=[redacted] HTTP/1.1")
    assert redact_requestline("GET /plain/ HTTP/1.1") == "GET /plain/ HTTP/1.1"


def test_the_setting_names_the_parameters():
    with override_settings(WEBSOCKET_REDACT_QUERY_PARAMS=["room"]):
        assert redact_query("room=1&token=S") == "room=[redacted]&token=S"
    with override_settings(WEBSOCKET_REDACT_QUERY_PARAMS=[]):
        assert redact_query("token=S") == "token=S"

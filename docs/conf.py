"""Sphinx configuration: ``nox -s docs`` builds with ``-W --keep-going -n``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# autodoc imports django_ws, whose modules need Django's settings.
import django  # noqa: E402
from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_ws"],
        DATABASES={},
    )
    django.setup()

project = "django_ws"
author = "the django_ws developers"
copyright = "2026, " + author  # noqa: A001 (Sphinx's name)

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "tutorial/files"]

# Every reference must resolve (-n): ours are checked; the ones into other
# projects' docs resolve through intersphinx, which needs the network
# (Read the Docs has it, CI here has not: DJANGO_WS_DOCS_OFFLINE=1 drops the
# inventories and, only then, the references into them).
nitpicky = True
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

OFFLINE = os.environ.get("DJANGO_WS_DOCS_OFFLINE") == "1"
intersphinx_mapping = {} if OFFLINE else {
    "python": ("https://docs.python.org/3", None),
    "django": ("https://docs.djangoproject.com/en/stable/",
               "https://docs.djangoproject.com/en/stable/_objects/"),
    "websockets": ("https://websockets.readthedocs.io/en/stable/", None),
    "gevent": ("https://www.gevent.org/", None),
    "redis": ("https://redis.readthedocs.io/en/stable/", None),
}
#: The other projects' names, unresolvable offline only.
EXTERNAL = r"((builtins|typing|collections|django|gevent|websockets|redis)\..*|" \
           r"(str|bytes|int|float|bool|dict|list|tuple|set|object|None|Any|Callable|" \
           r"Iterator|Iterable|Mapping|Exception|ValueError|TypeError|RuntimeError|" \
           r"HttpRequest|HttpResponse|HttpResponseBase|ConnectionOptions|WebSocket|Message)$)"
nitpick_ignore_regex = [(r"py:.*", EXTERNAL)] if OFFLINE else []
#: A TypeVar (the decorated view's own type) in the decorators' overloads:
#: nothing to link to.
nitpick_ignore = [("py:class", "django_ws.decorators.View")]

html_theme = "furo"
html_title = "django_ws"
html_static_path: list[str] = []

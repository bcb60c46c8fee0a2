"""Fail when the reference misses a setting, a check id or a metric.

Run by ``nox -s docs`` after the build: every ``WEBSOCKET_*`` setting of
``django_ws.options.DEFAULTS`` in ``reference/settings.md``, every check id
that ``django_ws/checks.py`` can report in ``reference/checks.md``, every
metric the collector exposes in ``reference/metrics.md``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent


def missing() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from django_ws.options import DEFAULTS

    settings_page = (DOCS / "reference" / "settings.md").read_text()
    checks_page = (DOCS / "reference" / "checks.md").read_text()
    metrics_page = (DOCS / "reference" / "metrics.md").read_text()
    checks_source = (ROOT / "django_ws" / "checks.py").read_text()
    metrics_source = (ROOT / "django_ws" / "metrics" / "collector.py").read_text()
    wanted = [(name, "reference/settings.md", settings_page) for name in DEFAULTS]
    wanted += [(check_id, "reference/checks.md", checks_page)
               for check_id in sorted(set(re.findall(r"django_ws\.[EW]\d{3}", checks_source)))]
    wanted += [(metric, "reference/metrics.md", metrics_page)
               for metric in sorted(set(re.findall(r'"(django_ws_\w+)"', metrics_source)))]
    return [f"{name} is not in {page}" for name, page, text in wanted
            if not re.search(rf"`{re.escape(name)}(_total)?[`{{ ]", text)]


if __name__ == "__main__":
    problems = missing()
    for problem in problems:
        print(problem, file=sys.stderr)
    sys.exit(1 if problems else 0)

"""One trial of any scenario: one client process (``trial.py``) or several (``scale.py``).

Here, above both, so that neither imports the other both ways (scale.py
builds on trial.py's server process and load generator).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .scale import run_scale_trial
from .scenarios import Scenario
from .servers import Server
from .trial import Placement, run_single_client_trial


def run_trial(
    server: Server, scenario: Scenario, quick: bool, places: dict[str, Placement], log_dir: Path, tag: str
) -> dict[str, Any]:
    """Run one scenario once against a fresh server. Always stops every process."""
    if scenario.kind == "scale":  # S6: several client processes, one server
        return run_scale_trial(server, scenario, quick, places, log_dir, tag)
    return run_single_client_trial(server, scenario, quick, places, log_dir, tag)

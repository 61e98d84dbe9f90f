"""bench/results/latest.json holds every bench's latest figures, one section each ("http",
"aggregate_load", "catalog_search", ...): a bench rewrites its own section and keeps the others."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LATEST = Path(__file__).resolve().parent / "results" / "latest.json"


def write_section(name: str, report: dict[str, Any], path: Path = LATEST) -> None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict) or "sections" not in data:
        data = {"sections": {}}  # the old single-bench layout: start again
    data["sections"][name] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    # other work on the machine when the bench ended: figures are only as quiet as it
                    "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]},
        **report,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")

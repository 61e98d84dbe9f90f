"""Writes and checks the catalogue's checked-in files: docs/event-catalogue.md (the table of
public types) and docs/events/fingerprints.json (every event's fields per schema version).

    .venv/bin/python -m tests.support.event_docs          # rewrite both after a change

It never changes the fingerprint of a version already recorded: a change of shape needs a
new `class_version` (and its upcaster), which adds a new version beside the old one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from domain.event_catalogue import all_entries, fingerprint

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE_MD = ROOT / "docs" / "event-catalogue.md"
FINGERPRINTS = ROOT / "docs" / "events" / "fingerprints.json"

Fingerprints = dict[str, dict[str, dict[str, str]]]


def recorded_fingerprints() -> Fingerprints:
    if not FINGERPRINTS.exists():
        return {}
    loaded: Fingerprints = json.loads(FINGERPRINTS.read_text())
    return loaded


def shape_changes(recorded: Fingerprints) -> list[str]:
    """Each event whose fields differ from those recorded for its schema version."""
    problems = []
    for entry in all_entries():
        known = recorded.get(entry.public_type, {}).get(str(entry.schema_version))
        if known is not None and known != fingerprint(entry):
            problems.append(
                f"{entry.public_type} ({entry.topic}) changed shape at schema version "
                f"{entry.schema_version}: recorded {known}, now {fingerprint(entry)}. Raise its "
                f"class_version and add upcast_v{entry.schema_version}_v"
                f"{entry.schema_version + 1}; then run python -m tests.support.event_docs")
    return problems


def updated_fingerprints(recorded: Fingerprints) -> Fingerprints:
    out: Fingerprints = {k: dict(v) for k, v in recorded.items()}
    for entry in all_entries():
        out.setdefault(entry.public_type, {}).setdefault(
            str(entry.schema_version), fingerprint(entry))
    return {k: dict(sorted(v.items(), key=lambda kv: int(kv[0]))) for k, v in sorted(out.items())}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def catalogue_markdown() -> str:
    lines = [
        "# Event catalogue",
        "",
        "Generated from `domain/event_catalogue.py` by `python -m tests.support.event_docs`;",
        "a test fails when it is out of date. `GET /v1/audit/event-types` serves the same",
        "catalogue with a JSON Schema per type. `data` holds the fields below; money is an",
        "integer in minor units, ids are strings, times ISO 8601 UTC.",
        "",
        "| Public type | Schema version | Stored topic | Fields |",
        "|---|---|---|---|",
    ]
    for e in all_entries():
        fields = ", ".join(f"`{name}: {kind}`" for name, kind in e.fields.items()) or "none"
        lines.append(f"| `{e.public_type}` | {e.schema_version} | `{e.topic}` | {_cell(fields)} |")
    return "\n".join(lines) + "\n"


def write() -> list[str]:
    recorded = recorded_fingerprints()
    problems = shape_changes(recorded)
    if problems:
        return problems
    FINGERPRINTS.parent.mkdir(parents=True, exist_ok=True)
    FINGERPRINTS.write_text(json.dumps(updated_fingerprints(recorded), indent=1) + "\n")
    CATALOGUE_MD.write_text(catalogue_markdown())
    return []


def main(argv: list[str] | None = None) -> int:
    problems: list[Any] = write()
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How every benchmark hands in its results: one JSON file, written atomically (``make bench`` skips ``_`` files)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from depth_ros.atomic_io import atomic_write_text


def write_report(path: Path, report: dict) -> None:
    """Write ``report`` as indented JSON to ``path`` and say where on stderr (with the minutes it took, if known)."""
    atomic_write_text(path, json.dumps(report, indent=2) + "\n")
    minutes = f" ({report['total_wall_s'] / 60:.1f} min)" if "total_wall_s" in report else ""
    print(f"wrote {path}{minutes}", file=sys.stderr)

"""Markdown comparison of ``eval_*.json`` results, with published anchors beside Eigen (raw-GT) rows only.

    python -m training.report runs/*/models/weights_19/eval_eigen*.json [--json table.json]

Rows are grouped by split, one table per split. Published numbers (sota.md §2, Monodepth2 README/paper)
were all measured on the raw-GT ``eigen`` split (697 images, Garg crop, 80 m cap, per-image median
scaling for mono), so they are listed, marked "(published)", only in the ``eigen`` table; any other
split (``eigen_benchmark``'s improved GT, a synthetic split) gets a note instead, because raw-GT and
improved-GT numbers are not comparable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from depth_ros.atomic_io import atomic_write_text
from training.metrics import METRIC_NAMES

PUBLISHED_SPLIT = "eigen"
PUBLISHED_MARK = "(published)"
COLUMNS = ("label", "split", "mode", "pp", *METRIC_NAMES)


def _published(label: str, mode: str, values: str, source: str) -> dict:
    metrics = dict(zip(METRIC_NAMES, (float(v) for v in values.split("/"))))
    return {
        "label": f"{label} {PUBLISHED_MARK}",
        "split": PUBLISHED_SPLIT,
        "mode": mode,
        "post_process": False,
        "metrics": metrics,
        "source": source,
        "published": True,
    }


# Eigen split, raw GT, 640×192 unless stated, no post-processing. Mode: how the model is evaluated
# (mono = per-image median scaling; stereo = ×5.4), with the training modality in brackets.
PUBLISHED_ANCHORS = (
    _published(
        "Monodepth2 R18 640×192",
        "mono (M)",
        "0.115/0.903/4.863/0.193/0.877/0.959/0.981",
        "Godard et al. ICCV 2019, Table 1; re-evaluated by RoboDepth/SMDE",
    ),
    _published(
        "Monodepth2 R18 no ImageNet 640×192",
        "mono (M)",
        "0.132/1.044/5.142/0.210/0.845/0.948/0.977",
        "Monodepth2 README (abs_rel, a1); full row third-party",
    ),
    _published(
        "Monodepth2 R18 1024×320",
        "mono (M)",
        "0.115/0.882/4.701/0.190/0.879/0.961/0.982",
        "Monodepth2 paper; ManyDepth/HR-Depth tables",
    ),
    _published(
        "Monodepth2 R18 640×192",
        "stereo (S)",
        "0.109/0.873/4.960/0.209/0.864/0.948/0.975",
        "Monodepth2 paper via third-party README",
    ),
    _published(
        "Monodepth2 R18 640×192",
        "stereo (MS)",
        "0.106/0.818/4.750/0.196/0.874/0.958/0.980",
        "Monodepth2 paper via third-party README (a2/a3 uncertain)",
    ),
    _published(
        "HR-Depth R18 640×192", "mono (M)", "0.109/0.792/4.632/0.185/0.884/0.962/0.983", "Lyu et al. AAAI 2021, README"
    ),
    _published(
        "CamLessMonoDepth ResNeXt-50 (learned K, ESPCN)",
        "mono (M)",
        "0.106/0.750/4.482/0.182/0.891/0.964/0.983",
        "Chanduri et al. arXiv 2110.14347, third-party",
    ),
    _published(
        "Lite-Mono 640×192", "mono (M)", "0.107/0.765/4.561/0.183/0.886/0.963/0.983", "Zhang et al. CVPR 2023, README"
    ),
    _published(
        "MonoViT 640×192",
        "mono (M)",
        "0.099/0.708/4.372/0.175/0.900/0.967/0.984",
        "Zhao et al. 3DV 2022, README; RoboDepth",
    ),
)


class ReportError(ValueError):
    """An evaluation JSON is missing, unreadable or lacks a field."""


def load_record(path: str | Path) -> dict:
    """Read one ``eval_*.json`` written by ``training.evaluate_depth`` and check its fields."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(f"cannot read {path}: {error}") from None
    missing = [key for key in ("label", "split", "mode", "post_process", "metrics") if key not in record]
    missing += [f"metrics.{name}" for name in METRIC_NAMES if name not in record.get("metrics", {})]
    if missing:
        raise ReportError(f"{path} is not an evaluation result: it lacks {', '.join(missing)}")
    return record


def _cells(record: dict) -> list[str]:
    metrics = [f"{record['metrics'][name]:.3f}" for name in METRIC_NAMES]
    return [
        str(record["label"]),
        str(record["split"]),
        str(record["mode"]),
        "yes" if record["post_process"] else "no",
        *metrics,
    ]


def markdown_table(records: Iterable[dict]) -> str:
    """One markdown table row per record (label, split, mode, pp, the seven metrics at 3 decimals)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(record)) + " |" for record in records]
    return "\n".join(lines)


def group_by_split(records: Iterable[dict]) -> dict[str, list[dict]]:
    """Records per split, splits in first-seen order; the ``eigen`` group gains the published anchors."""
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(record["split"], []).append(record)
    if PUBLISHED_SPLIT in groups:
        groups[PUBLISHED_SPLIT] += PUBLISHED_ANCHORS
    return groups


def build_report(records: Sequence[dict]) -> str:
    """Markdown: per split a heading and a table; published anchors only in the ``eigen`` table."""
    sections = []
    for split, rows in group_by_split(records).items():
        section = [f"### split: {split}", "", markdown_table(rows)]
        if split != PUBLISHED_SPLIT:
            section += [
                "",
                f"Published anchors are for the raw-GT '{PUBLISHED_SPLIT}' split and do not apply to '{split}'.",
            ]
        sections.append("\n".join(section))
    return "\n\n".join(sections)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", help="eval_*.json files from training.evaluate_depth")
    parser.add_argument("--json", help="also write the grouped rows (published ones included) to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        records = [load_record(path) for path in args.results]
    except ReportError as error:
        print(f"report: error: {error}", file=sys.stderr)
        return 2
    print(build_report(records))
    if args.json:
        atomic_write_text(args.json, json.dumps(group_by_split(records), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

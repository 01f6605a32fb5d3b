"""``make demo``'s chain, end to end on tiny settings, so that a break anywhere in it fails ``make test``.

The full-quality demo (600 steps on KITTI-sized drives) is ``make demo``; here the generator renders 416×128,
training runs 2 steps, the quality gate is relaxed and the depth bag uses relative scale (an untrained network
sees no road for camera_height). Every step is the same subprocess a user's ``make demo`` runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import pytest
from rosbags.highlevel import AnyReader

from training import demo

REPO_ROOT = Path(__file__).resolve().parents[1]
FRAMES = 20  # per drive: the smallest that leaves a validation batch of 4


def test_the_demo_chain_runs_from_generator_to_depth_strip(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO_ROOT)  # the demo runs training/train.py by its path, as `make demo` does
    out = tmp_path / "demo_out"
    rc = demo.main(["--out", str(out), "--steps", "2", "--frames", str(FRAMES), "--render_size", "416", "128",
                    "--max_abs_rel", "10", "--scale_strategy", "relative"])  # fmt: skip
    assert rc == 0
    printed = capsys.readouterr().out
    assert "Demo finished" in printed and "quality gate: AbsRel" in printed

    weights = demo.latest_weights(out / "runs" / "demo" / "models")
    record = json.loads((weights / "eval_synthetic.json").read_text())
    assert record["n_images"] == FRAMES - 2 and math.isfinite(record["metrics"]["abs_rel"])
    assert [p.name for p in (out / "runs" / "demo" / "models").glob("weights_*")] == [weights.name]  # last only
    with AnyReader([out / "depth_drive_0003"]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts["/depth/image"] == counts[demo.IMAGE_TOPIC] == FRAMES
    strip = cv2.imread(str(out / "depth_strip.png"))
    assert strip.shape == (4 * 128, 3 * 416, 3)


@pytest.mark.parametrize("abs_rel", [0.62, float("nan")])
def test_the_quality_gate_stops_the_demo_with_one_line_saying_what_to_try(tmp_path, abs_rel):
    evaluation = tmp_path / "eval_synthetic.json"
    evaluation.write_text(json.dumps({"metrics": {"abs_rel": abs_rel}}))
    with pytest.raises(SystemExit) as stop:
        demo.check_quality(evaluation, max_abs_rel=0.3, steps=600, seed=2)
    message = str(stop.value.code)
    assert "\n" not in message and f"AbsRel {abs_rel:.3f}" in message and "expected ≤ 0.3" in message
    assert "--steps 1200" in message and "--seed 3" in message


def test_the_quality_gate_passes_a_network_that_learned(tmp_path, capsys):
    evaluation = tmp_path / "eval_synthetic.json"
    evaluation.write_text(json.dumps({"metrics": {"abs_rel": 0.18}}))
    assert demo.check_quality(evaluation, max_abs_rel=0.3, steps=600, seed=0) == 0.18

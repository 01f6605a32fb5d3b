"""training.evaluate_depth end to end on a tiny synthetic KITTI split, in process."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from depth_test_models import BoxDetector

from depth_ros.checkpoint import ModelMetadata, save_weights_folder
from depth_ros.networks import DepthDecoder, ResnetEncoder
from training import evaluate_depth
from training.datasets.splits import TEST_FILE as SPLIT_FILE
from training.export_gt_depth import export_gt_depths
from training.gt_depth import GT_FILE, load_gt_depths, save_gt_depths
from training.metrics import MAX_DEPTH, METRIC_NAMES
from training.synthetic_kitti import generate

WIDTH, HEIGHT = 416, 128  # images and ground truth
MODEL_HEIGHT, MODEL_WIDTH = 64, 192  # network input (multiples of 32), small for speed
SKY_DEPTH_M = 200.0


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> dict[str, Path]:
    """Two 6-frame drives (the second one is the 4-image test split), dense GT exported, a random model."""
    root = tmp_path_factory.mktemp("eval")
    data = root / "kitti"
    generate(data, drives=2, frames=6, width=WIDTH, height=HEIGHT)
    split = data / "splits" / "synthetic"
    export_gt_depths(data, split, "annotated")
    # The renderer's GT reaches 120 m; gt > 0 splits do not cap it while predictions are clamped to 80 m.
    capped = root / "splits" / "capped"
    capped.mkdir(parents=True)
    shutil.copy(split / SPLIT_FILE, capped)
    save_gt_depths(capped / GT_FILE, [np.where(gt < MAX_DEPTH, gt, 0.0) for gt in load_gt_depths(split / GT_FILE)])
    torch.manual_seed(0)
    encoder = ResnetEncoder(18)
    decoder = DepthDecoder(encoder.num_ch_enc)
    weights = root / "weights_0"
    save_weights_folder(
        weights,
        {"encoder": encoder.state_dict(), "depth": decoder.state_dict()},
        ModelMetadata(MODEL_HEIGHT, MODEL_WIDTH),
    )
    return {"root": root, "data": data, "split": split, "capped": capped, "weights": weights}


def _model_args(dataset, *extra: str) -> list[str]:
    return ["--load_weights_folder", str(dataset["weights"]), "--data_path", str(dataset["data"]),
            "--eval_split", str(dataset["split"]), "--png", *extra]  # fmt: skip


def _finite_metrics(record: dict) -> None:
    assert list(record["metrics"]) == list(METRIC_NAMES)
    assert all(math.isfinite(value) for value in record["metrics"].values())


def test_mono_evaluation_of_a_saved_model(dataset, capsys):
    assert evaluate_depth.main(_model_args(dataset, "--eval_mono")) == 0
    out = capsys.readouterr().out
    assert " Scaling ratios | med: " in out and "| std: " in out
    assert "  abs_rel |   sq_rel |     rmse | rmse_log |       a1 |       a2 |       a3 | " in out
    latex = next(line for line in out.splitlines() if line.startswith("&"))
    assert latex.endswith("\\\\") and latex.count("&") == 7
    record = json.loads((dataset["weights"] / "eval_synthetic.json").read_text())
    _finite_metrics(record)
    assert record["label"] == str(dataset["weights"]) and record["split"] == "synthetic"
    assert record["n_images"] == 4 and record["mode"] == "mono" and record["post_process"] is False
    assert record["median_scaling"] is True and record["ratios"]["median"] > 0
    assert record["input_size"] == [MODEL_HEIGHT, MODEL_WIDTH] and record["depth_range"] == [0.1, 100.0]
    assert f"| {record['label']} | synthetic | mono | no | {record['metrics']['abs_rel']:.3f} |" in out


def test_post_processing_and_batching(dataset, tmp_path):
    disps = {}
    for batch_size in ("3", "16"):
        args = _model_args(dataset, "--eval_mono", "--post_process", "--save_pred_disps", "--batch_size", batch_size)
        assert evaluate_depth.main(args) == 0
        disps[batch_size] = np.load(dataset["weights"] / "disps_synthetic_split.npy")
    assert disps["3"].shape == (4, MODEL_HEIGHT, MODEL_WIDTH) and disps["3"].dtype == np.float32
    np.testing.assert_allclose(disps["3"], disps["16"], rtol=1e-5)
    assert disps["3"].min() >= 1 / 100.0 and disps["3"].max() <= 1 / 0.1  # scaled disparity
    record = json.loads((dataset["weights"] / "eval_synthetic_pp.json").read_text())
    _finite_metrics(record)
    assert record["post_process"] is True and record["label"].endswith("+pp")


def test_test_time_mask_adjustment_is_optional_and_labelled(dataset, tmp_path, monkeypatch, capsys):
    detector = BoxDetector()
    monkeypatch.setattr(evaluate_depth, "build_detector", lambda: detector)
    disps = {}
    for extra in ((), ("--mask_adjust_test",)):
        assert evaluate_depth.main(_model_args(dataset, "--eval_mono", "--save_pred_disps", *extra)) == 0
        disps[extra] = np.load(dataset["weights"] / "disps_synthetic_split.npy")
    raw, adjusted = disps[()], disps[("--mask_adjust_test",)]
    assert detector.calls == 1 and [image.shape for image in detector.inputs] == [(3, MODEL_HEIGHT, MODEL_WIDTH)] * 4
    box = BoxDetector.box(MODEL_HEIGHT, MODEL_WIDTH).numpy()
    np.testing.assert_array_equal(adjusted[:, ~box], raw[:, ~box])  # the default scores the network's own depth
    assert all(np.unique(image[box]).size == 1 for image in adjusted)  # each object is one plane
    assert not np.array_equal(adjusted[:, box], raw[:, box])
    record = json.loads((dataset["weights"] / "eval_synthetic_mask_adjust.json").read_text())
    assert record["label"].endswith("+mask_adjust") and record["mask_adjust_test"] is True
    assert json.loads((dataset["weights"] / "eval_synthetic.json").read_text())["mask_adjust_test"] is False
    ext = _save(tmp_path, raw)
    assert evaluate_depth.main(["--ext_disp_to_eval", str(ext), "--eval_split", str(dataset["split"]), "--eval_mono",
                                "--mask_adjust_test"]) == 2  # fmt: skip
    assert "cannot adjust --ext_disp_to_eval" in capsys.readouterr().err


def test_stereo_evaluation(dataset):
    assert evaluate_depth.main(_model_args(dataset, "--eval_stereo", "--num_layers", "18")) == 0  # as Monodepth2
    record = json.loads((dataset["weights"] / "eval_synthetic.json").read_text())
    _finite_metrics(record)
    assert record["mode"] == "stereo" and record["ratios"] is None and record["pred_depth_scale_factor"] == 5.4


def _true_disparities(dataset, numerator: float = 1.0) -> np.ndarray:
    """numerator / true depth (uncapped), and numerator / 200 m where the renderer saw sky."""
    gt = np.stack(load_gt_depths(dataset["split"] / GT_FILE))
    return (numerator / np.where(gt > 0, gt, SKY_DEPTH_M)).astype(np.float32)


@pytest.mark.parametrize(("mode", "numerator"), [("--eval_mono", 1.0), ("--eval_mono", 0.37), ("--eval_stereo", 5.4)])
def test_true_depth_disparities_score_zero_error(dataset, tmp_path, mode, numerator):
    ext = tmp_path / "true.npy"
    np.save(ext, _true_disparities(dataset, numerator=numerator))
    assert evaluate_depth.main(["--ext_disp_to_eval", str(ext), "--eval_split", str(dataset["capped"]), mode]) == 0
    record = json.loads((tmp_path / "eval_capped.json").read_text())
    assert record["label"] == str(ext) and record["n_images"] == 4
    assert record["metrics"]["abs_rel"] < 1e-6 and record["metrics"]["rmse"] < 1e-4
    assert record["metrics"]["a1"] == 1.0


def test_uncapped_ground_truth_beyond_80m_meets_the_clamped_prediction(dataset, tmp_path):
    """gt > 0 splits (eigen_benchmark's rule) keep GT beyond 80 m; the prediction is clamped to 80 m."""
    ext = tmp_path / "true.npy"
    np.save(ext, _true_disparities(dataset))
    assert (
        evaluate_depth.main(["--ext_disp_to_eval", str(ext), "--eval_split", str(dataset["split"]), "--eval_mono"]) == 0
    )
    abs_rel = json.loads((tmp_path / "eval_synthetic.json").read_text())["metrics"]["abs_rel"]
    gts = [gt[gt > 0] for gt in load_gt_depths(dataset["split"] / GT_FILE)]
    expected = np.mean([np.mean(np.maximum(gt - MAX_DEPTH, 0) / gt) for gt in gts])
    assert expected > 0 and abs_rel == pytest.approx(expected, rel=1e-4)


def test_low_resolution_true_disparities_score_nearly_zero(dataset, tmp_path):
    disps = _true_disparities(dataset)
    ext = tmp_path / "half.npy"
    np.save(ext, np.stack([cv2.resize(d, (WIDTH // 2, HEIGHT // 2), interpolation=cv2.INTER_AREA) for d in disps]))
    assert (
        evaluate_depth.main(["--ext_disp_to_eval", str(ext), "--eval_split", str(dataset["capped"]), "--eval_mono"])
        == 0
    )
    metrics = json.loads((tmp_path / "eval_capped.json").read_text())["metrics"]
    assert 0 < metrics["abs_rel"] < 0.05 and metrics["a1"] > 0.95


def test_benchmark_split_writes_kitti_pngs(dataset, tmp_path, capsys):
    split = tmp_path / "splits" / "benchmark"
    split.mkdir(parents=True)
    (split / SPLIT_FILE).write_text("image 0\nimage 1\n")
    ext = tmp_path / "disps.npy"
    np.save(ext, np.full((2, 6, 20), 5.4 / 10.0, np.float32))  # 10 m everywhere
    assert evaluate_depth.main(["--ext_disp_to_eval", str(ext), "--eval_split", str(split), "--eval_mono"]) == 0
    pngs = sorted((tmp_path / "benchmark_predictions").iterdir())
    assert [p.name for p in pngs] == ["0000000000.png", "0000000001.png"]
    depth = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert depth.shape == (352, 1216) and depth.dtype == np.uint16 and (depth == 2560).all()
    # Without external disparities its 'image N' lines name no KITTI raw frame.
    args = ["--load_weights_folder", str(dataset["weights"]), "--data_path", str(dataset["data"])]
    assert evaluate_depth.main([*args, "--eval_split", str(split), "--eval_mono"]) == 2
    assert "--ext_disp_to_eval" in capsys.readouterr().err


def _broken_weights(dataset, tmp_path, breakage: str) -> Path:
    folder = tmp_path / "weights"
    shutil.copytree(dataset["weights"], folder)
    if breakage == "no_depth":
        (folder / "depth.pth").unlink()
    else:
        data = (folder / "encoder.pth").read_bytes()
        (folder / "encoder.pth").write_bytes(data[: len(data) // 3])
    return folder


def _split_without(dataset, tmp_path, missing: str) -> Path:
    split = tmp_path / "split"
    shutil.copytree(dataset["split"], split)
    (split / missing).unlink()
    return split


BAD_INPUTS = {
    "missing split file": (lambda d, t: _model_args(d, "--eval_split", str(_split_without(d, t, SPLIT_FILE))),
                           "test_files.txt does not exist"),
    "missing split folder": (lambda d, t: _model_args(d, "--eval_split", str(t / "nothing")), "not found: no folder"),
    "missing gt_depths.npz": (lambda d, t: _model_args(d, "--eval_split", str(_split_without(d, t, GT_FILE))),
                              "python -m training.export_gt_depth"),
    "count mismatch": (lambda d, t: ["--ext_disp_to_eval", str(_save(t, _true_disparities(d)[:3])), "--eval_split",
                                     str(d["split"])], "3 predictions but 4 ground-truth"),
    "weights without depth.pth": (lambda d, t: [*_model_args(d), "--load_weights_folder",
                                                str(_broken_weights(d, t, "no_depth"))], "depth.pth"),
    "corrupt checkpoint": (lambda d, t: [*_model_args(d), "--load_weights_folder",
                                         str(_broken_weights(d, t, "truncated"))], "corrupt or truncated"),
    "missing images": (lambda d, t: [*_model_args(d), "--data_path", str(t)], "No such file"),
    "no model or predictions": (lambda d, t: ["--eval_split", str(d["split"])], "--ext_disp_to_eval"),
    "stereo with a scale factor": (lambda d, t: [*_model_args(d), "--pred_depth_scale_factor", "2"], "5.4"),
    "num_layers mismatch": (lambda d, t: [*_model_args(d), "--num_layers", "50"],
                            "--num_layers 50 does not match"),
    "NaN predictions": (lambda d, t: ["--ext_disp_to_eval", str(_save(t, np.full_like(_true_disparities(d), np.nan))),
                                      "--eval_split", str(d["split"])], "4 of 4 predictions"),
}  # fmt: skip


def _save(tmp_path: Path, array: np.ndarray) -> Path:
    np.save(tmp_path / "disps.npy", array)
    return tmp_path / "disps.npy"


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_one_error_line_and_exit_code_2(dataset, tmp_path, capsys, case):
    make_args, expected = BAD_INPUTS[case]
    mode = "--eval_stereo" if case == "stereo with a scale factor" else "--eval_mono"
    assert evaluate_depth.main([*make_args(dataset, tmp_path), mode]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("evaluate_depth: error: ") and "\n" not in err and "Traceback" not in err
    assert expected in err


def test_eigen_to_benchmark_reindexes_external_disparities(dataset, tmp_path):
    splits = tmp_path / "splits"
    (splits / "benchmark").mkdir(parents=True)
    np.save(splits / "benchmark" / "eigen_to_benchmark_ids.npy", np.array([3, 1, 0, 2]))
    shutil.copytree(dataset["capped"], splits / "eigen_benchmark")
    true = _true_disparities(dataset)
    eigen_order = np.empty((5, *true.shape[1:]), np.float32)
    eigen_order[[3, 1, 0, 2]] = true
    eigen_order[4] = 1.0  # an Eigen image without improved GT
    ext = tmp_path / "eigen_disps.npy"
    np.save(ext, eigen_order)
    args = ["--ext_disp_to_eval", str(ext), "--eval_eigen_to_benchmark", "--splits_dir", str(splits)]
    assert evaluate_depth.main([*args, "--eval_split", "eigen_benchmark", "--eval_mono"]) == 0
    record = json.loads((tmp_path / "eval_eigen_benchmark.json").read_text())
    assert record["split"] == "eigen_benchmark" and record["metrics"]["abs_rel"] < 1e-6


def test_a_malicious_gt_depths_file_is_one_error_line_and_runs_nothing(dataset, tmp_path, capsys):
    split = _split_without(dataset, tmp_path, GT_FILE)
    marker = tmp_path / "pwned"
    data = np.empty(1, dtype=object)
    data[0] = _ShellCommand(f"touch {marker}")
    np.savez_compressed(split / GT_FILE, data=data)
    assert evaluate_depth.main([*_model_args(dataset, "--eval_split", str(split)), "--eval_mono"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("evaluate_depth: error: ") and "refusing a pickled" in err and "\n" not in err
    assert not marker.exists()


class _ShellCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)

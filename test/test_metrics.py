"""Monodepth2's evaluation protocol in training.metrics, and the report's handling of published anchors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from training import report
from training.metrics import (
    MAX_DEPTH,
    METRIC_NAMES,
    MIN_DEPTH,
    EvalError,
    batch_post_process_disparity,
    compute_errors,
    eval_mask,
    evaluate_predictions,
    garg_crop_mask,
    median_scale,
)


def test_metric_order_is_monodepth2s():
    assert METRIC_NAMES == ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")


def test_perfect_prediction_has_zero_error():
    gt = np.random.default_rng(0).uniform(1.0, 80.0, 1000)
    errors = compute_errors(gt, gt.copy())
    assert list(errors) == list(METRIC_NAMES)
    for name in ("abs_rel", "sq_rel", "rmse", "rmse_log"):
        assert errors[name] == 0.0
    assert errors["a1"] == errors["a2"] == errors["a3"] == 1.0


def test_hand_computed_errors():
    gt = np.array([1.0, 2.0, 4.0, 3.0, 5.0])
    pred = np.array([2.0, 2.0, 2.0, 2.0, 9.0])
    # gt − pred = −1, 0, 2, 1, −4; max(gt/pred, pred/gt) = 2, 1, 2, 1.5, 1.8
    errors = compute_errors(gt, pred)
    assert errors["abs_rel"] == pytest.approx((1 + 0 + 2 / 4 + 1 / 3 + 4 / 5) / 5)
    assert errors["sq_rel"] == pytest.approx((1 + 0 + 4 / 4 + 1 / 3 + 16 / 5) / 5)
    assert errors["rmse"] == pytest.approx(math.sqrt((1 + 0 + 4 + 1 + 16) / 5))
    log2, log15, log18 = math.log(2), math.log(1.5), math.log(1.8)
    assert errors["rmse_log"] == pytest.approx(math.sqrt((log2**2 + 0 + log2**2 + log15**2 + log18**2) / 5))
    assert errors["a1"] == pytest.approx(1 / 5)  # only ratio 1 is below 1.25
    assert errors["a2"] == pytest.approx(2 / 5)  # 1.5 < 1.5625
    assert errors["a3"] == pytest.approx(3 / 5)  # 1.8 < 1.953125 < 2


@pytest.mark.parametrize(
    ("shape", "rows", "cols"), [((375, 1242), (153, 371), (44, 1197)), ((370, 1224), (151, 366), (43, 1180))]
)
def test_garg_crop_bounds(shape, rows, cols):
    mask = garg_crop_mask(*shape)
    expected = np.zeros(shape, dtype=bool)
    expected[rows[0] : rows[1], cols[0] : cols[1]] = True
    np.testing.assert_array_equal(mask, expected)


def test_eigen_mask_caps_and_crops_other_splits_only_need_positive_gt():
    gt = np.full((375, 1242), 10.0)
    gt[200, 100] = 85.0  # beyond the 80 m cap
    gt[200, 101] = MIN_DEPTH  # not above the minimum
    gt[200, 102] = 0.0
    eigen = eval_mask(gt, "eigen")
    assert eigen.sum() == (371 - 153) * (1197 - 44) - 3
    assert not eigen[0, 0] and not eigen[200, 100] and not eigen[200, 101]
    other = eval_mask(gt, "eigen_benchmark")
    assert other.sum() == gt.size - 1 and other[0, 0] and other[200, 100]


def test_median_scale():
    assert median_scale(np.array([1.0, 2.0, 30.0]), np.array([4.0, 1.0, 0.5])) == pytest.approx(2.0)


def test_median_scaling_is_per_image():
    rng = np.random.default_rng(1)
    gts = [rng.uniform(5.0, 50.0, (12, 20)), rng.uniform(2.0, 30.0, (12, 20))]
    scales = [0.5, 3.0]  # each prediction is off by its own factor
    pred_disps = [(1.0 / (gt * s)).astype(np.float32) for gt, s in zip(gts, scales)]
    result = evaluate_predictions(pred_disps, [gt.astype(np.float32) for gt in gts], "synthetic")
    np.testing.assert_allclose(result.ratios, [2.0, 1.0 / 3.0], rtol=1e-5)
    assert result.metrics["abs_rel"] < 1e-5 and result.metrics["a1"] == 1.0
    # One ratio for the whole batch (the seed paper's mistake) would leave a large error.
    gt_all = np.concatenate([g.ravel() for g in gts])
    pred_all = np.concatenate([1.0 / d.ravel() for d in pred_disps])
    batch_ratio = median_scale(gt_all, pred_all)
    assert compute_errors(gt_all, pred_all * batch_ratio)["abs_rel"] > 0.3


def test_mean_is_over_images_not_pixels():
    big, small = np.full((10, 10), 10.0), np.full((1, 2), 10.0)
    result = evaluate_predictions(
        [np.full((10, 10), 1 / 10.0), np.full((1, 2), 1 / 20.0)], [big, small], "x", disable_median_scaling=True
    )
    assert result.metrics["abs_rel"] == pytest.approx((0.0 + 1.0) / 2)


def test_disparity_not_depth_is_resized_bilinearly():
    pred_disp = np.array([[1.0, 0.5]], dtype=np.float32)
    # cv2 bilinear with half-pixel centres, 1×2 → 1×4: 1, 0.875, 0.625, 0.5; depth is its inverse.
    gt = 1.0 / np.array([[1.0, 0.875, 0.625, 0.5]], dtype=np.float32)
    result = evaluate_predictions([pred_disp], [gt], "x", disable_median_scaling=True)
    assert result.metrics["abs_rel"] < 1e-6


def test_stereo_scales_by_5_4_and_clamps():
    gt = np.full((4, 4), 50.0, dtype=np.float32)
    exact = evaluate_predictions([np.full((2, 2), 5.4 / 50.0, np.float32)], [gt], "x", mono=False)
    assert exact.metrics["abs_rel"] < 1e-6 and len(exact.ratios) == 0 and exact.ratio_summary() is None
    far = evaluate_predictions([np.full((2, 2), 1e-6, np.float32)], [gt], "x", mono=False)
    assert far.metrics["abs_rel"] == pytest.approx((MAX_DEPTH - 50.0) / 50.0)
    near = evaluate_predictions([np.full((2, 2), 1e6, np.float32)], [gt], "x", mono=False)
    assert near.metrics["abs_rel"] == pytest.approx((50.0 - MIN_DEPTH) / 50.0)


def test_scale_factor_without_median_scaling():
    gt = np.full((3, 3), 20.0)
    result = evaluate_predictions(
        [np.full((3, 3), 0.1)], [gt], "x", pred_depth_scale_factor=2.0, disable_median_scaling=True
    )
    assert result.metrics["abs_rel"] < 1e-9


def test_mismatch_and_bad_options_raise():
    gt = np.ones((2, 2))
    with pytest.raises(EvalError, match="2 predictions but 1"):
        evaluate_predictions([gt, gt], [gt], "x")
    with pytest.raises(EvalError, match=r"5\.4"):
        evaluate_predictions([gt], [gt], "x", mono=False, pred_depth_scale_factor=2.0)
    with pytest.raises(EvalError, match="no valid pixel"):
        evaluate_predictions([gt], [np.zeros((2, 2))], "x")


def test_ratio_summary_matches_monodepth2s_printout():
    gt = np.full((2, 2), 6.0)
    result = evaluate_predictions(
        [np.full((2, 2), 1.0), np.full((2, 2), 0.5), np.full((2, 2), 0.25)], [gt, gt, gt], "x"
    )
    np.testing.assert_allclose(result.ratios, [6.0, 3.0, 1.5])
    summary = result.ratio_summary()
    assert summary["median"] == pytest.approx(3.0)
    assert summary["std"] == pytest.approx(np.std([2.0, 1.0, 0.5]))


def test_post_processing_blend_and_ramps():
    height, width = 2, 100
    l_disp = np.full((3, height, width), 1.0, dtype=np.float32)
    r_disp = np.full((3, height, width), 3.0, dtype=np.float32)
    out = batch_post_process_disparity(l_disp, r_disp)
    assert out.shape == l_disp.shape and out.dtype == np.float32
    x = np.arange(width) / (width - 1)
    left_weight = np.clip(1.0 - 20.0 * (x - 0.05), 0.0, 1.0)  # weight of r_disp on the left edge
    expected = np.where(x <= 0.5, 2.0 + left_weight, 2.0 - left_weight[::-1])
    np.testing.assert_allclose(out[1, 0], expected, rtol=1e-6)
    assert (out[..., : int(0.05 * (width - 1)) + 1] == 3.0).all()  # outer 5 %: the flipped prediction
    assert (out[..., -(int(0.05 * (width - 1)) + 1) :] == 1.0).all()  # and the plain one on the right
    assert (out[..., 10:90] == 2.0).all()  # beyond 10 %: the mean
    ramp = out[0, 0, 5:10]
    assert (np.diff(ramp) < 0).all() and (ramp > 2.0).all() and (ramp < 3.0).all()


def _record(split: str, label: str) -> dict:
    return {
        "label": label,
        "split": split,
        "mode": "mono",
        "post_process": False,
        "metrics": dict.fromkeys(METRIC_NAMES, 0.5),
    }


def test_report_marks_published_rows_and_keeps_them_off_other_splits(tmp_path, capsys):
    paths = []
    for split, label in (("eigen", "ours-raw"), ("eigen_benchmark", "ours-improved")):
        paths.append(tmp_path / f"eval_{split}.json")
        paths[-1].write_text(json.dumps(_record(split, label)))
    assert report.main([str(p) for p in paths] + ["--json", str(tmp_path / "table.json")]) == 0
    text = capsys.readouterr().out
    eigen_section, benchmark_section = text.split("### split: eigen_benchmark")
    assert "ours-raw" in eigen_section and "ours-improved" not in eigen_section
    anchor = "| Monodepth2 R18 640×192 (published) | eigen | mono (M) | no | 0.115 | 0.903 | 4.863 | 0.193 | 0.877 |"
    assert anchor + " 0.959 | 0.981 |" in eigen_section
    assert eigen_section.count("(published)") == len(report.PUBLISHED_ANCHORS) >= 5
    assert "(published)" not in benchmark_section and "ours-improved" in benchmark_section
    assert "do not apply" in benchmark_section
    grouped = json.loads((tmp_path / "table.json").read_text())
    assert all(not row.get("published") for row in grouped["eigen_benchmark"])
    assert sum(bool(row.get("published")) for row in grouped["eigen"]) == len(report.PUBLISHED_ANCHORS)


def test_report_without_eigen_rows_shows_no_anchors(capsys):
    text = report.build_report([_record("synthetic", "ours")])
    assert "(published)" not in text and "do not apply to 'synthetic'" in text


def test_report_rejects_non_results(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"label": "x"}))
    assert report.main([str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "lacks" in err

"""Camera poses refined against a video's own depth: a hand-eye calibration error stops
smearing the object."""

from pathlib import Path

import numpy as np
import pytest

from seqpose_core.selflabel.refine import RefineConfig, _frame_points, refine_poses
from seqpose_core.selflabel.videos import ObjectVideo
from seqpose_core.synth.orbit import BASE_UP, make_recording
from seqpose_core.synth.sensor import pose_error
from seqpose_core.synth.shapes import GENERATOR_CLASSES


def object_spread(video: ObjectVideo, masks: np.ndarray) -> float:
    """Mean distance (metres) of each frame's object points to the nearest of the other frames'."""
    from scipy.spatial import cKDTree

    from seqpose_core.selflabel.segment import world_points

    pts = world_points(video, video.depth, 2)
    per = [p[m[::2, ::2] & np.isfinite(p).all(-1)] for p, m in zip(pts, masks, strict=True)]
    out = []
    for f, p in enumerate(per):
        tree = cKDTree(np.concatenate([q for g, q in enumerate(per) if g != f]))
        out.append(tree.query(p)[0].mean())
    return float(np.mean(out))


def relative_errors(a: np.ndarray, b: np.ndarray) -> float:
    """Median translation (metres) between the frame-to-frame motions of two pose sets (F, 4, 4)."""
    rel = [np.linalg.inv(a[0]) @ p for p in a], [np.linalg.inv(b[0]) @ p for p in b]
    return float(np.median([np.linalg.norm(x[:3, 3] - y[:3, 3]) for x, y in zip(*rel, strict=True)]))


@pytest.mark.parametrize("max_points", [RefineConfig.max_points, 1200])
def test_a_hand_eye_error_is_taken_out_of_the_poses_and_the_object_is_no_longer_smeared(max_points):
    rng = np.random.default_rng(5)
    rec = make_recording(GENERATOR_CLASSES.id("mug"), rng, 12, (120, 160))
    truth = rec.cam_to_base
    wrong = truth @ pose_error(rng, 0.004, 1.0)  # the TF's camera, off by a fixed calibration error
    video = ObjectVideo(Path("mug_video"), "mug", rec.k, wrong, rec.rgb, rec.depth, None, BASE_UP)
    cfg = RefineConfig(max_points=max_points)
    per_frame = [len(p) for p in _frame_points(video, rec.depth, cfg)]
    assert max(per_frame) <= max_points and min(per_frame) > 0.5 * min(max_points, 2000)
    refined = refine_poses(video, rec.depth, cfg)
    before = object_spread(video, rec.object_mask)
    after = object_spread(refined, rec.object_mask)
    exact = object_spread(
        ObjectVideo(Path("x"), "mug", rec.k, truth, rec.rgb, rec.depth, None, BASE_UP), rec.object_mask
    )
    assert after < before - 0.6 * (before - exact)  # most of the smear is gone
    assert relative_errors(refined.cam_to_world, truth) < 0.5 * relative_errors(wrong, truth)


def test_exact_poses_stay_where_they_are():
    rng = np.random.default_rng(6)
    rec = make_recording(GENERATOR_CLASSES.id("laptop"), rng, 10, (120, 160))
    video = ObjectVideo(
        Path("laptop_video"), "laptop", rec.k, rec.cam_to_base, rec.rgb, rec.depth, None, BASE_UP
    )
    refined = refine_poses(video, rec.depth)
    shift = np.linalg.norm(refined.cam_to_world[:, :3, 3] - rec.cam_to_base[:, :3, 3], axis=1)
    assert shift.max() < 0.001

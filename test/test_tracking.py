"""Duplicate suppression, the track manager and camera-motion compensation, on scripted estimates."""

import numpy as np
import pytest
import torch

from seqpose_core.categories import CLASS_NAMES
from seqpose_core.estimates import PoseEstimate
from seqpose_core.model.anchors import anchors_to_points, points_to_anchors
from seqpose_core.model.config import tiny_config
from seqpose_core.model.stream import StreamMemory
from seqpose_core.tracking.suppression import SuppressionConfig, suppress_duplicates
from seqpose_core.tracking.tracker import TrackerConfig, TrackManager

CAN = np.array([0.07, 0.12, 0.07])
MUG = np.array([0.12, 0.09, 0.09])


def est(cls, x, y=0.0, z=0.8, score=0.6, query=0, size=None):
    size = CAN if size is None else size
    return PoseEstimate(
        cls, CLASS_NAMES[cls], score, np.eye(3), np.array([x, y, z]), size.copy(), query_id=query
    )


def frame(manager, estimates, stamp):
    return manager.update(suppress_duplicates(estimates, SuppressionConfig()), stamp)


def ids_by_class(published):
    return {e.class_name: e.track_id for e in published}


def test_two_estimates_of_one_object_give_one_box_the_propagated_one():
    fresh = est(4, 0.10, score=0.9, query=0)
    propagated = est(4, 0.11, score=0.4, query=17)
    kept = suppress_duplicates([fresh, propagated], SuppressionConfig())
    assert len(kept) == 1 and kept[0].query_id == 17 and kept[0].translation[0] == 0.11
    assert kept[0].score == 0.9  # it keeps the best score of the pair
    other_class = est(1, 0.105, score=0.5)  # a wrong-class duplicate right on the object
    assert len(suppress_duplicates([fresh, other_class], SuppressionConfig())) == 1
    neighbour = est(4, 0.10 + 0.16)  # a second can a hand's width beside the first
    assert len(suppress_duplicates([fresh, neighbour], SuppressionConfig())) == 2
    assert len(suppress_duplicates([fresh, propagated], SuppressionConfig(enabled=False))) == 2


def test_an_object_missed_for_one_frame_keeps_its_id():
    m = TrackManager(TrackerConfig(confirm_hits=2, max_misses=2))
    first = frame(m, [est(4, 0.0), est(6, 0.3, size=MUG)], 0.0)
    frame(m, [est(4, 0.001), est(6, 0.3, size=MUG)], 0.1)
    missed = frame(m, [est(6, 0.3, size=MUG)], 0.2)
    assert "can" not in ids_by_class(missed)
    back = frame(m, [est(4, 0.002), est(6, 0.301, size=MUG)], 0.3)
    assert ids_by_class(back) == ids_by_class(first)


def test_objects_of_different_classes_passing_close_keep_their_ids():
    m = TrackManager()
    published = []
    xs = np.linspace(-0.2, 0.2, 9)  # the can moves right, the mug left: they cross at x = 0
    for i, x in enumerate(xs):
        published.append(frame(m, [est(4, x, y=-0.06), est(6, -x, y=0.06, size=MUG)], 0.1 * i))
    ids = [ids_by_class(p) for p in published]
    assert all(i == ids[0] for i in ids) and len(set(ids[0].values())) == 2


def test_two_objects_of_one_class_crossing_keep_their_ids():
    m = TrackManager()
    ids = []
    for i, x in enumerate(np.linspace(-0.2, 0.2, 9)):  # two cans cross at x = 0, 20 cm apart in y
        q = (1, 2) if x < 0 else (2, 1)  # and the memory's queries swap objects as they cross
        published = frame(m, [est(4, x, y=-0.1, query=q[0]), est(4, -x, y=0.1, query=q[1])], 0.1 * i)
        ids.append({("below" if e.translation[1] < 0 else "above"): e.track_id for e in published})
    assert all(i == ids[0] for i in ids) and len(set(ids[0].values())) == 2


def test_ids_are_never_reused_and_a_reset_clears_the_tracks():
    m = TrackManager(TrackerConfig(confirm_hits=1, max_misses=1))
    a = frame(m, [est(4, 0.0)], 0.0)[0].track_id
    frame(m, [], 0.1)
    frame(m, [], 0.2)  # the track is deleted after more than max_misses misses
    assert not m.tracks
    b = frame(m, [est(4, 0.0)], 0.3)[0].track_id
    assert b != a
    m.reset()
    assert not m.tracks
    c = frame(m, [est(4, 0.0)], 0.4)[0].track_id
    assert c not in (a, b)


def test_tentative_tracks_are_not_published_after_the_first_frames():
    m = TrackManager(TrackerConfig(confirm_hits=2))
    assert len(frame(m, [est(4, 0.0)], 0.0)) == 1  # a young stream shows what it has
    frame(m, [est(4, 0.0)], 0.1)
    shown = frame(m, [est(4, 0.0), est(6, 0.3, size=MUG)], 0.2)
    assert [e.class_name for e in shown] == ["can"]  # the mug has one hit: tentative
    assert len(frame(m, [est(4, 0.0), est(6, 0.3, size=MUG)], 0.3)) == 2


def test_class_is_voted_over_the_track():
    m = TrackManager()
    for i in range(4):
        frame(m, [est(4, 0.0, score=0.8)], 0.1 * i)
    out = frame(m, [est(1, 0.0, score=0.3)], 0.4)  # one frame calls the can a bottle
    assert out[0].class_name == "can"


def test_smoothing_filter_damps_measurement_noise():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, (20, 3))
    spread = {}
    for smooth in (False, True):
        m = TrackManager(TrackerConfig(smooth=smooth))
        xs = [
            frame(m, [est(4, *(np.array([0.0, 0.0, 0.8]) + n))], 0.1 * i)[0].translation
            for i, n in enumerate(noise)
        ]
        spread[smooth] = np.mean(np.linalg.norm(np.diff(np.array(xs), axis=0), axis=1))
    assert spread[True] < 0.8 * spread[False]


def turn_and_shift():
    angle = np.deg2rad(10)
    t = np.eye(4)
    t[:3, :3] = [[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]]
    t[:3, 3] = [0.05, 0.0, -0.1]
    return t


def test_camera_motion_moves_a_stored_anchor_to_the_hand_computed_point():
    k = torch.tensor([[[200.0, 0, 112.0], [0, 200.0, 84.0], [0, 0, 1]]])
    cfg = tiny_config(input_size=(168, 224), depth_range=(0.2, 2.5), memory_frames=2, memory_topk=1)
    memory = StreamMemory(cfg, "cpu")
    point = torch.tensor([[[0.1, -0.05, 1.0]]])
    with torch.inference_mode():  # as in Predictor.step
        memory.buffers.anchors[:, -1:] = points_to_anchors(point, k, cfg.input_size, cfg.depth_range)
        memory.frames = 1
        memory.move(torch.from_numpy(turn_and_shift()), k)
    # by hand: x' = cos a x + sin a z + 0.05; y' = y; z' = -sin a x + cos a z - 0.1
    a = np.deg2rad(10)
    expected = [np.cos(a) * 0.1 + np.sin(a) * 1.0 + 0.05, -0.05, -np.sin(a) * 0.1 + np.cos(a) * 1.0 - 0.1]
    moved = anchors_to_points(memory.latest.anchors, k, cfg.input_size, cfg.depth_range)[0, 0]
    np.testing.assert_allclose(moved.numpy(), expected, atol=1e-4)


def test_camera_motion_moves_the_tracks_so_a_static_object_keeps_its_id():
    m = TrackManager(TrackerConfig(gate=0.5))
    obj_world = np.array([0.0, 0.0, 0.8, 1.0])
    first = frame(m, [est(4, *obj_world[:3])], 0.0)[0].track_id
    transform = turn_and_shift()
    seen = transform @ obj_world  # the same object seen from the moved camera
    m.move(transform)
    np.testing.assert_allclose(m.tracks[0].estimate.translation, seen[:3], atol=1e-9)
    assert frame(m, [est(4, *seen[:3])], 0.1)[0].track_id == first
    lost = TrackManager(TrackerConfig(gate=0.5))  # without the motion the jump breaks the track
    frame(lost, [est(4, *obj_world[:3])], 0.0)
    frame(lost, [est(4, *seen[:3])], 0.1)
    assert [t.hits for t in lost.tracks] == [1, 1]  # the old track missed, a new one started


@pytest.fixture
def tiny_predictor():
    from seqpose_core.model.config import tiny_config
    from seqpose_core.model.seqpose import SeqPose
    from seqpose_core.predictor import Predictor

    torch.manual_seed(0)
    return Predictor(SeqPose(tiny_config(input_size=(112, 154))), "cpu", score_threshold=0.0)


@pytest.mark.parametrize("bad", [np.eye(3), np.full((4, 4), np.nan)])
def test_predictor_rejects_a_malformed_camera_motion(bad, tiny_predictor):
    rgb = np.zeros((48, 64, 3), np.uint8)
    k = np.array([[60.0, 0, 32], [0, 60.0, 24], [0, 0, 1]])
    tiny_predictor.step(rgb, k, 0.0)
    with pytest.raises(ValueError, match="camera_motion must be a finite 4 x 4"):
        tiny_predictor.step(rgb, k, 0.1, camera_motion=bad)


def scripted_frames(ids_per_frame, extra_box=False):
    from seqpose_core.evaluation.tracking import TrackFrame

    gt = np.array([[0.0, 0.0, 0.8], [0.3, 0.0, 0.9]])
    frames = []
    for ids in ids_per_frame:
        centres = gt + 0.01
        classes = np.array([4, 6])
        if extra_box:
            centres, ids, classes = np.vstack([centres, gt[:1] + 0.02]), [*ids, 99], np.array([4, 6, 1])
        frames.append(
            TrackFrame("s", np.array([1, 2]), np.array([4, 6]), gt, np.array(ids), classes, centres)
        )
    return frames


def test_tracking_metrics_count_switches_ids_and_boxes():
    from seqpose_core.evaluation.tracking import tracking_metrics

    steady = tracking_metrics(scripted_frames([[5, 6]] * 4))
    assert steady["mota"] == 1.0 and steady["idf1"] == 1.0 and steady["id_switches"] == 0
    assert steady["ids_per_object"] == 1.0 and steady["boxes_per_object"] == 1.0
    assert steady["class_accuracy"] == 1.0
    switching = tracking_metrics(scripted_frames([[5, 6], [5, 7], [5, 8], [5, 9]]))
    assert switching["id_switches"] == 3 and switching["ids_per_object"] == 2.5
    assert switching["id_switches_per_100"] == 100 * 3 / 8
    doubled = tracking_metrics(scripted_frames([[5, 6]] * 4, extra_box=True))
    assert doubled["boxes_per_object"] == 1.5 and doubled["mota"] < 1.0
    assert doubled["class_accuracy"] == 2 / 3  # the extra box near the can says bottle
    untracked = tracking_metrics(scripted_frames([[-1, -1]] * 2))
    assert "mota" not in untracked and untracked["boxes_per_object"] == 1.0


def test_class_accuracy_counts_only_the_boxes_near_the_classes_asked_for():
    from seqpose_core.evaluation.tracking import class_accuracy

    frames = scripted_frames([[5, 6]] * 2, extra_box=True)  # near the can (4): a can and a bottle
    assert class_accuracy(frames, 0.1, classes=[4]) == 1 / 2
    assert class_accuracy(frames, 0.1, classes=[6]) == 1.0
    assert np.isnan(class_accuracy(frames, 0.1, classes=[7]))  # no object of that class


def test_the_embedded_model_keeps_track_ids_over_12_frames_of_a_fixed_scene(tmp_path):
    """Bounded at what the shipped weights give (measured with the #45 model: 4 ID switches, 1.17
    track ids per object, IDF1 0.73 over 6 objects in 12 frames; told the camera's motion, and so
    fusing, 0 switches, 1.00 ids per object, IDF1 0.77); a change that loses ids fails."""
    from seqpose_core.assets import default_checkpoint
    from seqpose_core.checkpoint import load_model
    from seqpose_core.data.nocs_dataset import NocsSubset
    from seqpose_core.evaluation.predict import predict_subset
    from seqpose_core.evaluation.tracking import tracking_metrics
    from seqpose_core.predictor import Predictor
    from seqpose_core.synth.writer import SynthConfig, generate

    generate(
        tmp_path,
        SynthConfig(train_scenes=0, test_scenes=1, frames=12, height=240, width=320, seed=26, look="plain"),
    )
    model = load_model(default_checkpoint())
    for motion, switches, ids, idf1 in ((False, 4, 1.17, 0.72), (True, 0, 1.0, 0.76)):
        log = []
        predict_subset(
            Predictor(model, "cpu", multi_frame=True),
            NocsSubset(tmp_path, "real_test"),
            track_log=log,
            camera_motion=motion,
        )
        m = tracking_metrics(log)
        assert m["gt_frames"] == 71 and m["id_switches"] <= switches, (motion, m)
        assert m["ids_per_object"] <= ids + 1e-9 and m["idf1"] >= idf1, (motion, m)

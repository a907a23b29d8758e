"""2D-to-3D lifting: projection, features, the numpy network, post-processing, both methods,
training, the shipped weights, and `dancerev lift` / `lift-train` on real CMU dance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dancerev_core.cli import main
from dancerev_core.errors import DanceRevError, InputFileError
from dancerev_core.formats.motion_npz import load_motion, save_motion
from dancerev_core.formats.reading import read_motion
from dancerev_core.lifting import network, postprocess
from dancerev_core.lifting.data import HELD_OUT, load_clip, load_clips
from dancerev_core.lifting.evaluate import clip_cameras, clip_motion
from dancerev_core.lifting.features import image_plane, moving_average, network_input
from dancerev_core.lifting.metrics import mpjpe, pa_mpjpe
from dancerev_core.lifting.network import Lifter, LifterConfig, load_lifter, tensor_shapes
from dancerev_core.lifting.pipeline import lift
from dancerev_core.lifting.projection import (
    Camera,
    body25_from_canonical,
    normalize_pixels,
    project_motion,
    yaw_matrix,
)
from dancerev_core.lifting.skeleton import (
    SOLE_HEIGHTS,
    STANDARD_REST,
    STANDARD_TOTAL_LENGTH,
    bone_lengths,
)
from dancerev_core.lifting.weights import decode_safetensors, encode_safetensors, save_weights
from dancerev_core.motion import Motion, normalize_image_coordinates
from dancerev_core.skeletons import BODY_25, CANONICAL_24
from tests.conftest import shared_data

CMU = ("mocap", "cmu")
HELD_OUT_CC = ("mocap", "cmu", "05", "005_15.bvh")  # held out of the shipped lifter's training
HELD_OUT_DAZ = ("mocap", "cmu", "61", "61_03_scaled.bvh")


@pytest.fixture(scope="module")
def ballet():
    return load_clip(shared_data(*HELD_OUT_CC))


@pytest.fixture(scope="module")
def salsa():
    clip = load_clip(shared_data(*HELD_OUT_DAZ))
    clip.positions = clip.positions[:240]  # 8 s keeps the tests quick
    return clip


def filmed(clip, index: int = 0) -> tuple[Motion, Camera]:
    camera = clip_cameras(clip, index + 1)[index]
    return project_motion(clip_motion(clip), camera), camera


def soles(positions: np.ndarray) -> np.ndarray:
    size = bone_lengths(positions).sum(axis=-1).mean() / STANDARD_TOTAL_LENGTH
    return np.stack([positions[:, j, 2] - h * size for j, h in SOLE_HEIGHTS.items()],
                    axis=1).min(axis=1)


# ---------------------------------------------------------------- projection and features
def test_camera_projects_like_a_pinhole():
    camera = Camera(yaw=0.0, elevation=0.0, distance=5.0, focal=1000.0, width=1280,
                    height=720, target=(0.0, 0.0, 1.0))
    points = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 0.0, 2.0], [1.0, 5.0, 1.0]])
    pixels = camera.project(points)
    np.testing.assert_allclose(pixels[0], [640, 360])  # the target: image centre
    np.testing.assert_allclose(pixels[1], [840, 360])  # 1 m right at 5 m: f / 5 pixels
    np.testing.assert_allclose(pixels[2], [640, 160])  # 1 m up: up the image (y down)
    np.testing.assert_allclose(pixels[3], [740, 360])  # twice as far: half as big
    # Yaw turns the world about Z through the target before the camera sees it.
    turned = Camera(yaw=np.pi / 2, elevation=0.0, distance=5.0, focal=1000.0, width=1280,
                    height=720, target=(0.0, 0.0, 1.0))
    np.testing.assert_allclose(turned.project(points[1]),
                               camera.project(points[1] @ yaw_matrix(np.pi / 2).T), atol=1e-9)
    # Looking down: a point below the target is nearer the image centre than one above.
    down = Camera(yaw=0.0, elevation=np.radians(30), distance=5.0, focal=1000.0, width=1280,
                  height=720, target=(0.0, 0.0, 1.0))
    assert down.project(np.array([0.0, 0.0, 1.0]))[1] == pytest.approx(360)
    above, below = down.project(np.array([[0, 0, 2.0], [0, 0, 0.0]]))[:, 1]
    assert 360 - above > below - 360 > 0


def test_body25_points_sit_on_the_canonical_skeleton():
    points = body25_from_canonical(STANDARD_REST)
    joints = dict(zip(CANONICAL_24.joint_names, STANDARD_REST, strict=True))
    name = dict(zip(BODY_25.joint_names, points, strict=True))
    np.testing.assert_allclose(name["Neck"], joints["neck"])
    np.testing.assert_allclose(name["LWrist"], joints["left_wrist"])
    np.testing.assert_allclose(name["RKnee"], joints["right_knee"])
    np.testing.assert_allclose(name["MidHip"], (joints["left_hip"] + joints["right_hip"]) / 2)
    # The standard body faces -Y: face and toes are in front, heels behind, left at +X.
    assert name["Nose"][1] < joints["head"][1] - 0.05
    assert name["LEye"][0] > name["Nose"][0] > name["REye"][0]
    assert name["LBigToe"][1] < joints["left_ankle"][1] < name["LHeel"][1]
    assert name["LSmallToe"][0] > name["LBigToe"][0]  # small toe outside the big one
    assert name["RSmallToe"][0] < name["RBigToe"][0]


def test_filmed_motion_is_normalised_as_dancerev_2d_data(ballet):
    motion, camera = filmed(ballet)
    assert motion.skeleton == BODY_25.name and motion.dims == 2 and motion.root_relative
    pixels = camera.project(body25_from_canonical(ballet.positions))
    film = Motion(positions=pixels, fps=30, skeleton="body25", joint_names=BODY_25.joint_names)
    expected = normalize_image_coordinates(film, camera.width, camera.height)
    np.testing.assert_allclose(motion.to_absolute().positions, expected.positions, atol=1e-5)
    np.testing.assert_allclose(normalize_pixels(pixels, camera.width, camera.height),
                               expected.positions, atol=1e-5)
    # The image plane undoes the aspect ratio: it is the pixels, scaled, with y up.
    plane = image_plane(expected.positions, camera.width / camera.height)
    centred = (pixels - [camera.width / 2, camera.height / 2]) / (camera.height / 2)
    np.testing.assert_allclose(plane, centred * [1, -1], atol=1e-5)


def test_network_input_is_size_free_and_marks_missing_keypoints(ballet):
    motion, _ = filmed(ballet)
    plane = image_plane(motion.to_absolute().positions, 16 / 9)
    inputs, root, size = network_input(plane)
    bigger, _, _ = network_input(plane * 3.0 + 0.5)
    np.testing.assert_allclose(inputs, bigger, atol=1e-9)
    np.testing.assert_allclose(root, plane[:, 8])
    seen = np.ones(plane.shape[:2], bool)
    seen[10:20, 4] = False  # RWrist: input keypoint 4, channels 12-14 (x, y, seen)
    masked, _, _ = network_input(plane, seen)
    assert (masked[10:20, 12:15] == 0).all() and (masked[:10, 14] == 1).all()
    np.testing.assert_allclose(masked[:10], inputs[:10])
    assert np.allclose(moving_average(np.arange(10.0), 3)[1:-1], np.arange(1.0, 9.0))


# ---------------------------------------------------------------- metrics, post-processing
def test_metrics_ignore_what_they_should():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(5, 24, 3))
    shifted = truth + np.array([1.0, 2.0, 3.0])
    assert mpjpe(shifted, truth) == pytest.approx(0, abs=1e-9)
    turned = 1.7 * truth @ yaw_matrix(0.8).T + 4.0
    assert pa_mpjpe(turned, truth) == pytest.approx(0, abs=1e-6)
    assert mpjpe(turned, truth) > 100
    noisy = truth + rng.normal(scale=0.01, size=truth.shape)
    assert 10 < mpjpe(noisy, truth) < 25


def test_bone_lengths_become_constant(ballet):
    rng = np.random.default_rng(1)
    wobbly = ballet.positions + rng.normal(scale=0.01, size=ballet.positions.shape)
    fixed = postprocess.constant_bone_lengths(wobbly)
    lengths = bone_lengths(fixed)
    assert lengths.std(axis=0).max() < 1e-9
    left = [CANONICAL_24.index(n) - 1 for n in ("left_knee", "left_elbow", "left_ankle")]
    right = [CANONICAL_24.index(n) - 1 for n in ("right_knee", "right_elbow", "right_ankle")]
    np.testing.assert_allclose(lengths[0, left], lengths[0, right])
    assert mpjpe(fixed, ballet.positions) < 30  # directions kept


# ---------------------------------------------------------------- lifting
@pytest.fixture(scope="module")
def shipped() -> Lifter:
    return load_lifter()


def test_shipped_weights_load_and_lift_a_held_out_clip_well(shipped, ballet, salsa):
    assert shipped.path.parent.name == "pretrained"
    assert set(HELD_OUT_CC[-1:] + HELD_OUT_DAZ[-1:]) <= {f"{n}.bvh" for n in HELD_OUT}
    # Measured with the shipped weights: 108 mm and 59 mm (random weights: far above 200).
    for clip, limit in ((ballet, 130), (salsa, 75)):
        motion, camera = filmed(clip)
        result = lift(motion, "learned", shipped)
        assert result.method == "learned" and not result.warnings
        truth = camera.to_view(clip.positions)
        error = mpjpe(result.motion.positions, truth)
        assert error < limit, (clip.name, error)
        assert pa_mpjpe(result.motion.positions, truth) < error


def test_lifted_motion_is_a_body_on_the_floor(shipped, salsa):
    motion, _ = filmed(salsa)
    for method in ("learned", "geometric"):
        lifted = lift(motion, method, shipped).motion
        assert lifted.skeleton == CANONICAL_24.name and lifted.dims == 3
        assert lifted.num_frames == motion.num_frames and lifted.fps == motion.fps
        assert np.isfinite(lifted.positions).all()
        lengths = bone_lengths(lifted.positions)
        assert lengths.std(axis=0).max() < 1e-4  # float32 rounding only
        lowest = soles(lifted.positions)
        assert np.median(np.abs(lowest)) < 0.01 and lowest.min() > -0.021, method
        head_above_feet = lifted.positions[:, 15, 2] - lifted.positions[:, 10, 2]
        assert np.median(head_above_feet) > 1.2  # upright, Z up


def test_geometric_fallback_needs_no_weights(tmp_path, salsa, monkeypatch):
    motion, camera = filmed(salsa)
    monkeypatch.setattr(network, "PRETRAINED", tmp_path / "missing.json")
    result = lift(motion)
    assert result.method == "geometric"
    assert "geometric fallback" in result.warnings[0] and "missing.json" in result.warnings[0]
    truth = camera.to_view(salsa.positions)
    assert pa_mpjpe(result.motion.positions, truth) < 200  # measured: 145 mm
    explicit = lift(motion, "geometric")
    np.testing.assert_allclose(explicit.motion.positions, result.motion.positions)
    assert not explicit.warnings


def test_missing_keypoints_and_other_rates(shipped, salsa):
    motion, camera = filmed(salsa)
    truth = camera.to_view(salsa.positions)
    full = mpjpe(lift(motion, "learned", shipped).motion.positions, truth)
    confidence = np.ones(motion.positions.shape[:2], np.float32)
    confidence[30:80, [4, 7]] = 0  # both wrists lost for 1.7 s
    confidence[100:110, :] = 0  # a whole 1/3 s with nobody detected
    confidence[:, 17] = 0  # one ear never seen
    holes = motion.with_positions(motion.positions, confidence=confidence)
    assert mpjpe(lift(holes, "learned", shipped).motion.positions, truth) < full + 25
    # The paper's 15 fps: every other frame, lifted at 30 fps and brought back.
    slow = motion.to_absolute().resample(15).to_root_relative()
    lifted = lift(slow, "learned", shipped).motion
    assert lifted.fps == 15 and lifted.num_frames == slow.num_frames
    assert mpjpe(lifted.positions, truth[::2][:lifted.num_frames]) < full + 25


def test_learned_lifter_matches_its_torch_model(one_thread):
    torch = pytest.importorskip("torch")
    from dancerev_core.lifting.train import TemporalModel

    config = LifterConfig(channels=16, dilations=(3,))
    torch.manual_seed(0)
    model = TemporalModel(config)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):  # statistics a trained model would have
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    inputs = np.random.default_rng(0).normal(size=(40, 48)).astype(np.float32)
    lifter = Lifter(config, model.folded())
    half = config.receptive_field // 2
    with torch.no_grad():
        expected = model(torch.from_numpy(inputs[None])).numpy()[0]
    np.testing.assert_allclose(lifter.predict(inputs)[half:-half, 1:], expected, atol=1e-4)


@pytest.fixture
def one_thread():
    """Training as `lift-train` does it: one thread (two contend badly on a shared CPU)."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_training_runs_deterministically_and_loss_falls(ballet, one_thread):
    from dancerev_core.lifting.train import train_lifter

    config = LifterConfig(channels=32, dilations=(3,))
    runs = [train_lifter([ballet], config, epochs=10, seed=3, batch_size=4, lr=1e-2,
                         final_lr=1e-3, steps_per_epoch=4, log=lambda _: None)
            for _ in range(2)]
    (lifter, losses), (again, losses_again) = runs
    assert losses == losses_again
    assert np.mean(losses[-2:]) < 0.5 * np.mean(losses[:2]), losses
    assert {n: t.shape for n, t in lifter.tensors.items()} == tensor_shapes(config)


# ---------------------------------------------------------------- weights files
def test_weights_round_trip_and_refuse_tampering(tmp_path):
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, np.float16)}
    data = encode_safetensors(tensors)
    back = decode_safetensors(data, Path("x"))
    assert back.keys() == tensors.keys() and all((back[k] == tensors[k]).all() for k in back)
    st = pytest.importorskip("safetensors.numpy")
    assert all((st.load(data)[k] == tensors[k]).all() for k in tensors)
    config = LifterConfig(channels=8, dilations=(3,))
    shapes = tensor_shapes(config)
    weights = {n: np.zeros(s, np.float32) for n, s in shapes.items()}
    path = save_weights(tmp_path / "lifter", weights, {"network": config.to_dict()})
    assert load_lifter(path).config == config
    written = json.loads(path.read_text())
    (tmp_path / written["weights"]).write_bytes(b"\0" * written["weights_bytes"])
    with pytest.raises(InputFileError, match="corrupted or modified"):
        load_lifter(path)
    with pytest.raises(InputFileError, match="not a DanceRev lifter"):
        path.write_text('{"format": "something else"}')
        load_lifter(path)


def test_unreadable_clips_are_skipped_with_a_message():
    said = []
    clips = load_clips(shared_data(*CMU), names={"60_08_scaled", "005_01"}, log=said.append)
    assert [c.name for c in clips] == ["005_01"]
    assert len(said) == 1 and "60_08_scaled.bvh" in said[0] and "empty" in said[0]
    lengths = bone_lengths(clips[0].positions).sum(axis=-1)
    np.testing.assert_allclose(lengths, STANDARD_TOTAL_LENGTH, rtol=0.01)


# ---------------------------------------------------------------- command line
def test_cli_lifts_a_2d_motion_file(tmp_path, capsys, salsa, monkeypatch):
    motion, _ = filmed(salsa)
    source = save_motion(motion, tmp_path / "dance2d.npz")
    out = tmp_path / "dance3d.npz"
    assert main(["lift", str(source), "-o", str(out)]) == 0
    said = capsys.readouterr()
    assert "wrote" in said.out and "learned" in said.out and not said.err
    lifted = load_motion(out)
    assert lifted.skeleton == CANONICAL_24.name and lifted.num_frames == motion.num_frames
    assert lifted.meta["lifting_method"] == "learned"
    assert main(["lift", str(source), "-o", str(out), "--method", "geometric",
                 "--smoothing", "1.5", "--image-size", "1280x720"]) == 0
    assert load_motion(out).meta["lifting_method"] == "geometric"
    monkeypatch.setattr(network, "PRETRAINED", tmp_path / "none.json")  # weights missing
    assert main(["lift", str(source), "-o", str(out)]) == 0
    said = capsys.readouterr()
    assert "warning" in said.err and "geometric fallback" in said.err
    assert "geometric" in said.out


def test_cli_lifts_real_openpose_output(tmp_path, capsys):
    frame = shared_data("openpose", "im1010_openpose.json")
    out = tmp_path / "one.npz"
    assert main(["lift", str(frame), "-o", str(out)]) == 0
    lifted = load_motion(out)
    assert lifted.num_frames == 1 and np.isfinite(lifted.positions).all()
    assert np.median(bone_lengths(lifted.positions)) > 0.05


def test_cli_refuses_bad_input_in_one_line(tmp_path, capsys, ballet):
    three_d = save_motion(clip_motion(ballet), tmp_path / "dance3d.npz")
    bvh = shared_data(*HELD_OUT_CC)
    other = Motion(positions=np.zeros((5, 3, 2)), fps=30, skeleton="raw",
                   joint_names=("a", "b", "c"))
    raw2d = save_motion(other, tmp_path / "raw2d.npz")
    two_d = save_motion(filmed(ballet)[0], tmp_path / "dance2d.npz")
    cases = [([str(three_d)], "dance3d.npz: lifting needs BODY_25 2D keypoints"),
             ([str(bvh)], "005_15.bvh: lifting needs BODY_25 2D keypoints"),
             ([str(raw2d)], "raw2d.npz: lifting needs BODY_25 2D keypoints"),
             ([str(tmp_path / "nope.npz")], "nope.npz: no such file"),
             ([str(three_d), "--image-size", "wide"], "--image-size must be WIDTHxHEIGHT"),
             ([str(two_d), "--weights", str(tmp_path / "none.json")],
              "none.json: no such file")]
    for extra, message in cases:
        assert main(["lift", *extra, "-o", str(tmp_path / "out.npz")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out.npz").exists()
    with pytest.raises(DanceRevError, match="lifting method"):
        lift(filmed(ballet)[0], "magic")


def test_cli_lift_train_writes_a_lifter_that_loads(tmp_path, capsys, one_thread):
    out = tmp_path / "lifter"
    assert main(["lift-train", str(shared_data("mocap", "cmu", "05")), "-o", str(out),
                 "--epochs", "1", "--held-out", "005_15"]) == 0
    said = capsys.readouterr().out
    assert "epoch 1/1" in said and "| 005_15 |" in said and "wrote" in said
    lifter = load_lifter(out / "lifter.json")
    training = lifter.description["training"]
    assert "005_15" not in training["clips"] and len(training["clips"]) == 19
    assert set(training["held_out_metrics"]["results_mm"]) == {"learned", "geometric"}


def test_cli_lift_train_refuses_a_folder_without_clips(tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(["lift-train", str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    assert "no readable BVH clip" in capsys.readouterr().err


def test_read_motion_inputs_reach_lift(tmp_path, salsa):
    """What `read_motion` reads (here a paper-style normalised clip) lifts like the npz."""
    motion, _ = filmed(salsa)
    back = read_motion(save_motion(motion, tmp_path / "m.npz"))
    np.testing.assert_allclose(lift(back, "geometric").motion.positions,
                               lift(motion, "geometric").motion.positions, atol=1e-5)

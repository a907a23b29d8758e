"""`dancerev train`: a real short run whose loss falls, exact resume, NaN stop, bad inputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from dancerev_core.cli import main
from dancerev_core.model import ModelConfig, self_fed_length
from dancerev_core.model.checkpoint import load_checkpoint
from dancerev_core.training import TrainConfig, load_run, load_training_data, train
from tests.conftest import shared_data, song_excerpt

TINY_MODEL = dict(d_model=32, n_layers=1, n_heads=2, d_k=16, d_v=16, d_inner=128, window=10,
                  decoder_hidden=64, dropout=0.1, schedule="linear", lam=0.5)
TINY_TRAINING = dict(seq_len=30, batch_size=4, lr=3e-3, val_fraction=0.25)
TAKES = {"ballet/005_02": "Kevin_MacLeod_-_Vibe_Ace.hq.ogg",
         "ballet/005_04": "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg",
         "modern/005_07": "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.hq.ogg",
         "modern/005_12": "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_"
                          "(string_orchestra).hq.ogg"}


def write_takes(root):
    """4 CMU ballet/modern takes (9-11 s), each with a 12 s excerpt of a real song (wav)."""
    for name, song in TAKES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_data("mocap", "cmu", "05", name.split("/")[1] + ".bvh"),
                    root / f"{name}.bvh")
        song_excerpt(song, root / f"{name}.wav", 10, 22)
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_takes(tmp_path_factory.mktemp("train") / "dataset")


@pytest.fixture(autouse=True)
def feature_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"model": TINY_MODEL, "training": TINY_TRAINING}))
    return path


def history(folder):
    return [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]


class FakeSummaryWriter:
    """Stands in for TensorBoard's SummaryWriter (tensorboard is not installed here)."""

    def __init__(self):
        self.scalars, self.closed = [], False

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def flush(self):
        pass

    def close(self):
        self.closed = True


def test_a_real_short_run_learns(dataset, tmp_path, monkeypatch):
    from dancerev_core.training import progress

    writer = FakeSummaryWriter()
    monkeypatch.setattr(progress, "_tensorboard", lambda out_dir: writer)
    out = tmp_path / "run"
    # the paper's layout and loss (absolute root, metres), in which "the loss halves" is read
    config = TrainConfig(epochs=14, scale_poses=False, **TINY_TRAINING)
    data = load_training_data(dataset, seq_len=config.seq_len, val_fraction=config.val_fraction,
                              pose_encoding="absolute")
    assert data.summary["clips"] == 4 and data.summary["genres"] == {"ballet": 2, "modern": 2}
    assert data.summary["val"]["clips"] == 1
    result = train(data, ModelConfig(joint_set=data.joint_set, pose_encoding="absolute",
                                     **TINY_MODEL), config, out, progress=False)
    lines = history(out)
    print("loss curve:", [(e["epoch"], round(e["train_loss"], 4), round(e["val_loss"], 4),
                           e["self_fed_length"]) for e in lines])
    assert [e["epoch"] for e in lines] == list(range(1, 15))
    assert [e["self_fed_length"] for e in lines] == [self_fed_length("linear", t, 0.5)
                                                      for t in range(1, 15)]
    assert all(e["frames_per_second"] > 0 and e["seconds"] > 0 for e in lines)
    assert ("val_loss", lines[3]["val_loss"], 4) in writer.scalars and writer.closed
    assert lines[-1]["train_loss"] < 0.5 * lines[0]["train_loss"]
    assert lines[-1]["val_loss"] < lines[0]["val_loss"]
    assert result.epoch == 14 and result.train_loss == lines[-1]["train_loss"]
    last = load_checkpoint(result.last, expect_joint_set="canonical24")
    assert last.training["epoch"] == 14 and last.training["data"]["train"]["windows"] == 14
    assert last.config.pose_size == 72 and last.training["train_config"]["lr"] == 3e-3
    # best = the lowest validation loss at the furthest curriculum stage (p = 7: epoch 14)
    best = load_checkpoint(result.best)
    assert best.training["best"]["epoch"] == 14 == best.training["epoch"]


@pytest.mark.parametrize("precision,moved", [("fp32", False), ("bf16", False), ("fp32", True)])
def test_resume_continues_bit_for_bit(dataset, tmp_path, config_file, capsys, precision,
                                      moved):
    args = ["train", str(dataset), "--config", str(config_file), "--quiet",
            "--precision", precision]
    if moved:  # windows cut at new starts every epoch, the same ones after a resume
        args.append("--random-window-starts")
    assert main([*args, "-o", str(tmp_path / "straight"), "--epochs", "4"]) == 0
    assert main([*args, "-o", str(tmp_path / "split"), "--epochs", "2"]) == 0
    # a kill between the checkpoint and the history line leaves one line too many
    with open(tmp_path / "split" / "history.jsonl", "a") as stream:
        stream.write('{"epoch": 3, "train_loss": 1.0}\n{"epo')
    resume = ["train", str(dataset), "-o", str(tmp_path / "split"), "--resume", "--quiet"]
    assert main([*resume, "--epochs", "4"]) == 0
    assert "resuming" in capsys.readouterr().out
    straight, split = (load_run(tmp_path / name) for name in ("straight", "split"))
    assert split.training["train_config"]["precision"] == precision
    assert split.training["train_config"]["random_window_starts"] is moved
    assert split.training["mixed_precision"] == ("torch.bfloat16" if precision == "bf16"
                                                 else None)
    assert split.training["epoch"] == 4 and split.training["self_fed_length"] == 2
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, split.model.state_dict()[name]), name
    assert straight.extra.keys() == split.extra.keys() and straight.extra
    for name, tensor in straight.extra.items():
        assert torch.equal(tensor, split.extra[name]), name
    timing = ("frames_per_second", "seconds")
    assert ([{k: v for k, v in e.items() if k not in timing} for e in history(tmp_path / "split")]
            == [{k: v for k, v in e.items() if k not in timing}
                for e in history(tmp_path / "straight")])
    # already there: nothing to do, nothing changes
    assert main([*resume, "--epochs", "4"]) == 0
    assert len(history(tmp_path / "split")) == 4


def test_the_velocity_loss_adds_the_l1_of_frame_to_frame_changes():
    from dancerev_core.model import Seq2Seq, condition_mask
    from dancerev_core.training.loop import training_loss

    model = Seq2Seq(ModelConfig(joint_set="canonical24", **TINY_MODEL)).eval()  # no dropout
    features, poses = torch.randn(2, 30, 438), torch.randn(2, 30, 72)
    mask = torch.from_numpy(condition_mask("linear", 4, 30, 10, 0.5))

    def loss(weight):
        return training_loss(model, features, poses, mask, torch.Generator().manual_seed(0),
                             None, weight)

    with torch.no_grad():
        predicted = model(features, poses, mask, generator=torch.Generator().manual_seed(0))
    velocity = (predicted.diff(dim=1) - poses.diff(dim=1)).abs().mean()
    assert torch.isclose(loss(2.0), loss(0.0) + 2.0 * velocity, atol=1e-6)


def test_the_speed_loss_compares_each_non_root_joints_step_length():
    from dancerev_core.model import Seq2Seq, condition_mask
    from dancerev_core.skeletons import joint_set
    from dancerev_core.training.loop import joint_speeds, training_loss

    joints = joint_set("canonical24")
    # a joint stepping +1 in x then -1 has the speed of one stepping -1 then +1: the
    # speed loss cannot tell them apart, the velocity loss can; the root is not counted
    forth = torch.zeros(1, 3, 72)
    forth[0, 1, 3] = 1.0
    back = -forth
    back[0, :, 0:3] = torch.tensor([0.0, 5.0, 0.0])[:, None]  # the root: not counted
    assert torch.equal(joint_speeds(forth, joints), joint_speeds(back, joints))
    assert joint_speeds(forth, joints).shape == (1, 2, 23)
    assert joint_speeds(forth, joints)[0, :, 0].tolist() == [1.0, 1.0]

    model = Seq2Seq(ModelConfig(joint_set="canonical24", **TINY_MODEL)).eval()  # no dropout
    features, poses = torch.randn(2, 30, 438), torch.randn(2, 30, 72)
    mask = torch.from_numpy(condition_mask("linear", 4, 30, 10, 0.5))

    def loss(weight):
        return training_loss(model, features, poses, mask, torch.Generator().manual_seed(0),
                             None, 0.0, weight, joints)

    with torch.no_grad():
        predicted = model(features, poses, mask, generator=torch.Generator().manual_seed(0))
    speed = (joint_speeds(predicted, joints) - joint_speeds(poses, joints)).abs().mean()
    assert speed > 0 and torch.isclose(loss(0.5), loss(0.0) + 0.5 * speed, atol=1e-6)


def test_auto_precision_follows_the_hardware(monkeypatch):
    from dancerev_core.training import hardware

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert hardware.autocast_dtype("fp32", cuda) is None
    assert hardware.autocast_dtype("bf16", cpu) is torch.bfloat16
    for native in (True, False):
        monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda native=native: native)
        assert hardware.autocast_dtype("auto", cpu) is (torch.bfloat16 if native else None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert hardware.autocast_dtype("auto", cuda) is torch.float16


def test_epochs_zero_writes_the_initialised_model(dataset, tmp_path, config_file, capsys):
    out = tmp_path / "init"
    assert main(["train", str(dataset), "-o", str(out), "--config", str(config_file),
                 "--epochs", "0", "--seed", "7"]) == 0
    printed = capsys.readouterr().out
    assert str(out / "last.json") in printed and str(out / "history.jsonl") in printed
    checkpoint = load_checkpoint(out / "last", expect_joint_set="canonical24")
    assert checkpoint.training["epoch"] == 0 and checkpoint.training["best"] is None
    torch.manual_seed(7)
    from dancerev_core.model import Seq2Seq
    fresh = Seq2Seq(checkpoint.config).state_dict()
    assert all(torch.equal(t, fresh[k]) for k, t in checkpoint.model.state_dict().items())
    assert history(out) == [] and not (out / "best.json").exists()
    # the data's statistics, fitted before the first step, travel in the checkpoint's config
    config = checkpoint.config
    assert len(config.pose_scale) == config.pose_size and len(config.music_scale) == 438
    settings = TrainConfig(**checkpoint.training["train_config"])
    data = load_training_data(dataset, seq_len=settings.seq_len, joint_set="canonical24",
                              val_fraction=settings.val_fraction, seed=settings.seed)
    np.testing.assert_allclose(config.music_mean, data.train.features.reshape(-1, 438).mean(0),
                               rtol=1e-4, atol=1e-4)


def test_a_diverging_loss_stops_with_the_epoch_and_step(dataset, tmp_path, config_file,
                                                        capsys):
    out = tmp_path / "nan"
    code = main(["train", str(dataset), "-o", str(out), "--config", str(config_file),
                 "--epochs", "3", "--lr", "1e30", "--quiet"])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1
    assert "loss became nan at epoch 1, step 2 of 4" in error and "last.json" in error
    assert load_run(out).training["epoch"] == 0  # the last good checkpoint is intact


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "1", "--seq-len", "400"], "no clip gives a training window of 400 frames"),
    (["--epochs", "1", "--device", "cuda"], "no CUDA device"),
    (["--epochs", "1", "--batch-size", "0"], "batch_size must be a whole number >= 1"),
    (["--resume"], "nothing to resume"),
    (["--epochs", "1", "--precision", "fp16"], "precision must be one of auto, fp32, bf16"),
    (["--epochs", "1", "--velocity-weight", "-1"], "velocity_weight must be a number >= 0"),
    (["--epochs", "1", "--speed-weight", "-1"], "speed_weight must be a number >= 0"),
])
def test_bad_settings_are_one_line_errors(dataset, tmp_path, config_file, capsys, extra,
                                          message):
    if "cuda" in extra and torch.cuda.is_available():
        pytest.skip("CUDA is present")
    code = main(["train", str(dataset), "-o", str(tmp_path / "out"), "--config",
                 str(config_file), *extra])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and message in error, error


def test_bad_configs_and_folders_are_one_line_errors(dataset, tmp_path, config_file, capsys):
    def fails(args, message):
        assert main(["train", *args]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and message in error, error

    out = str(tmp_path / "out")
    fails([str(tmp_path / "nowhere"), "-o", out], "dataset folder not found")
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": {"d_model": 32, "wings": 2}}')
    fails([str(dataset), "-o", out, "--config", str(bad)], "unknown model config key(s) wings")
    bad.write_text('{"model": {}, "optimiser": {}}')
    fails([str(dataset), "-o", out, "--config", str(bad)], "unknown section(s) optimiser")
    bad.write_text('{"model": ')
    fails([str(dataset), "-o", out, "--config", str(bad)], "not a readable JSON config")
    bad.write_text(json.dumps({"model": {**TINY_MODEL, "joint_set": "body25"}}))
    fails([str(dataset), "-o", out, "--config", str(bad)],
          "the data is canonical24 (3D) but the model config says joint_set 'body25'")
    assert main(["train", str(dataset), "-o", out, "--config", str(config_file),
                 "--epochs", "0"]) == 0
    capsys.readouterr()
    fails([str(dataset), "-o", out, "--config", str(config_file), "--epochs", "1"],
          "already holds a training run")
    fails([str(dataset), "-o", out, "--resume", "--schedule", "const"],
          "cannot change a run being resumed")


def test_snapshots_keep_every_nth_epochs_weights(dataset, tmp_path, config_file, capsys):
    out = tmp_path / "run"
    args = ["train", str(dataset), "--config", str(config_file), "--quiet", "-o", str(out)]
    assert main([*args, "--epochs", "2", "--snapshot-every", "2"]) == 0
    # a resumed run may change how often it snapshots and still be the same run
    assert main(["train", str(dataset), "-o", str(out), "--resume", "--quiet", "--epochs", "3",
                 "--snapshot-every", "1"]) == 0
    assert "not bit-for-bit" not in capsys.readouterr().out
    snapshots = sorted(p.name for p in (out / "snapshots").glob("*.json"))
    assert snapshots == ["e0002.json", "e0003.json"]
    last, snapshot = load_run(out), load_checkpoint(out / "snapshots" / "e0003.json")
    assert snapshot.training["epoch"] == 3 and "optimizer" not in snapshot.training
    assert not snapshot.extra  # weights only
    for name, tensor in last.model.state_dict().items():
        expected = tensor.half().to(tensor.dtype) if tensor.is_floating_point() else tensor
        assert torch.equal(snapshot.model.state_dict()[name], expected), name


def test_the_health_check_records_free_running_figures_and_warns_when_they_freeze(
        dataset, tmp_path, config_file, capsys):
    out = tmp_path / "run"
    assert main(["train", str(dataset), "--config", str(config_file), "--quiet", "-o", str(out),
                 "--epochs", "3", "--health-every", "2"]) == 0
    printed = capsys.readouterr().out
    lines = history(out)
    assert [e["health"] is not None for e in lines] == [False, True, False]
    health = lines[1]["health"]
    assert set(health) == {"speed_vs_real", "acceleration_vs_real", "frozen_share",
                           "energy_ratio", "fid_k", "hit_rate", "shuffled_hit_rate", "dances"}
    assert health["dances"] == 1 and 0 <= health["frozen_share"] <= 1
    freezes = health["frozen_share"] > 0.25 or health["speed_vs_real"] < 0.5
    assert ("epoch 2: warning: free-running dances freeze" in printed) == freezes
    assert printed.count("warning: free-running") == int(freezes)
    assert (out / "health.png").stat().st_size > 1000

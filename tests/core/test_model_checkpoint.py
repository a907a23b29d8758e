"""Checkpoints: exact round trip, atomic saves, and one-line refusals that never unpickle."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from dancerev_core import weights_pair
from dancerev_core.errors import InputFileError
from dancerev_core.model import ModelConfig, Seq2Seq
from dancerev_core.model import checkpoint as ckpt
from dancerev_core.model.checkpoint import load_checkpoint, save_checkpoint


def tiny_model(seed: int = 0, **changes) -> Seq2Seq:
    torch.manual_seed(seed)
    sizes = dict(d_model=16, n_layers=1, n_heads=2, d_k=8, d_v=8, d_inner=32, window=3,
                 decoder_hidden=24)
    sizes.update(changes)
    return Seq2Seq(ModelConfig(**sizes))


def weights_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".safetensors")


@pytest.fixture(autouse=True)
def never_unpickle(monkeypatch):
    """Any attempt to unpickle during these tests fails loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError("checkpoint code tried to unpickle")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)


def test_round_trip_is_exact(tmp_path):
    model = tiny_model(joint_set="canonical24")
    training = {"epoch": 12, "data": {"clips": 3, "frames": 2700}, "history": [0.5, 0.25]}
    extra = {"optimizer/step": torch.tensor([12]), "rng": torch.arange(5, dtype=torch.uint8)}
    path = save_checkpoint(tmp_path / "run" / "last", model, training, extra)
    assert path == tmp_path / "run" / "last.json"
    header = json.loads(path.read_text())
    assert header["model"] == model.config.to_dict()
    assert header["features"]["num_features"] == 438
    assert header["features"]["blocks"][0] == ["mfcc", 20]
    assert header["motion"] == {"joint_set": "canonical24", "fps": 15.0, "pose_size": 72,
                                "layout": ckpt.POSE_LAYOUT}
    loaded = load_checkpoint(tmp_path / "run" / "last", device="cpu",
                             expect_joint_set="canonical24")
    assert loaded.config == model.config and loaded.training == training
    assert not loaded.model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor), name
    assert set(loaded.extra) == set(extra)
    assert all(torch.equal(loaded.extra[k], v) for k, v in extra.items())
    model.eval()
    features = torch.randn(10, 438)
    torch.testing.assert_close(
        loaded.model.generate(features, torch.Generator().manual_seed(1)),
        model.generate(features, torch.Generator().manual_seed(1)), rtol=0, atol=0)


def test_float16_storage_halves_the_file_and_loads_back_as_float32(tmp_path):
    from dancerev_core.errors import DanceRevError

    model = tiny_model()
    full = save_checkpoint(tmp_path / "full", model)
    half = save_checkpoint(tmp_path / "half", model, weights_dtype=torch.float16)
    sizes = [json.loads(path.read_text())["weights_bytes"] for path in (full, half)]
    assert sizes[1] < 0.55 * sizes[0], sizes
    loaded = load_checkpoint(half, device="cpu")
    for name, tensor in model.state_dict().items():
        stored = loaded.model.state_dict()[name]
        assert stored.dtype == tensor.dtype, name
        torch.testing.assert_close(stored, tensor.half().to(tensor.dtype), rtol=0, atol=0)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = 1e6  # beyond float16's range
    with pytest.raises(DanceRevError, match="does not fit in torch.float16"):
        save_checkpoint(tmp_path / "big", model, weights_dtype=torch.float16)
    assert not (tmp_path / "big.json").exists()


def test_saving_again_replaces_the_weights_file(tmp_path):
    save_checkpoint(tmp_path / "last.json", tiny_model(0))
    first = weights_files(tmp_path)
    save_checkpoint(tmp_path / "last.json", tiny_model(1), {"epoch": 2})
    second = weights_files(tmp_path)
    assert len(first) == len(second) == 1 and first != second
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert load_checkpoint(tmp_path / "last.json", device="cpu").training == {"epoch": 2}


@pytest.mark.parametrize("killed_at", [1, 2])
def test_kill_during_save_leaves_last_checkpoint_loadable(tmp_path, monkeypatch, killed_at):
    """A save killed after the new weights (1) or while writing the JSON (2)."""
    old = tiny_model(0)
    save_checkpoint(tmp_path / "last", old, {"epoch": 1})
    real_write, calls = weights_pair._durable_write, []

    def dying_write(path, data):
        calls.append(path)
        if len(calls) == killed_at:
            if killed_at == 2:  # half the JSON reaches its temp file, then the process dies
                (path.parent / f".{path.name}.dead.tmp").write_bytes(data[: len(data) // 2])
            raise KeyboardInterrupt
        real_write(path, data)

    monkeypatch.setattr(weights_pair, "_durable_write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "last", tiny_model(1), {"epoch": 2})
    monkeypatch.setattr(weights_pair, "_durable_write", real_write)
    loaded = load_checkpoint(tmp_path / "last", device="cpu")
    assert loaded.training == {"epoch": 1}
    for name, tensor in old.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor)
    save_checkpoint(tmp_path / "last", tiny_model(2), {"epoch": 3})  # removes the orphan
    assert len(weights_files(tmp_path)) == 1
    assert load_checkpoint(tmp_path / "last", device="cpu").training == {"epoch": 3}


def assert_refused(path, match, **kwargs) -> None:
    with pytest.raises(InputFileError, match=match) as caught:
        load_checkpoint(path, device="cpu", **kwargs)
    assert "\n" not in str(caught.value)


def test_refuses_feature_and_joint_set_mismatch(tmp_path):
    path = save_checkpoint(tmp_path / "m", tiny_model())
    assert_refused(path, "438 music features per frame, these features have 400",
                   expect_features=400)
    assert_refused(path, "joint set 'body25', 'canonical24' was expected",
                   expect_joint_set="canonical24")
    header = json.loads(path.read_text())
    header["features"]["blocks"][0] = ["mel", 20]
    path.write_text(json.dumps(header))
    assert_refused(path, "another music feature layout")


def test_refuses_truncated_and_tampered_weights(tmp_path):
    path = save_checkpoint(tmp_path / "m", tiny_model())
    weights = tmp_path / weights_files(tmp_path)[0]
    data = weights.read_bytes()
    weights.write_bytes(data[:-100])
    assert_refused(path, "truncated")
    tampered = bytearray(data)
    tampered[-5] ^= 0x01
    weights.write_bytes(bytes(tampered))
    assert_refused(path, "corrupted or modified")
    weights.unlink()
    assert_refused(path, "weights file of m.json not found")


def test_refuses_pickles_without_unpickling(tmp_path):
    model = tiny_model()
    zipped = tmp_path / "model.pt"
    torch.save(model.state_dict(), zipped)
    assert_refused(zipped, r"model\.pt: is a zip archive")
    raw = tmp_path / "old.pth"
    raw.write_bytes(pickle.dumps({"model": [1, 2, 3]}, protocol=2))
    assert_refused(raw, r"old\.pth: is a pickle")
    # a checkpoint JSON whose weights file was swapped for a pickle
    path = save_checkpoint(tmp_path / "m", model)
    (tmp_path / weights_files(tmp_path)[0]).write_bytes(raw.read_bytes())
    assert_refused(path, "is a pickle")


def test_refuses_files_that_are_not_our_checkpoints(tmp_path):
    path = save_checkpoint(tmp_path / "m", tiny_model())
    assert_refused(tmp_path / weights_files(tmp_path)[0], "safetensors weights file")
    assert_refused(tmp_path / "absent", "checkpoint not found")
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    assert_refused(other, "not a DanceRev checkpoint")
    other.write_text("this is not json")
    assert_refused(other, "not JSON")
    header = json.loads(path.read_text())
    for change, match in [({"weights": "../escape.safetensors"}, "beside the JSON"),
                          ({"version": 99}, "version 99"),
                          ({"model": {**header["model"], "colour": 1}}, "bad model config"),
                          ({"model": {**header["model"], "d_model": 20}}, "do not fit")]:
        path.write_text(json.dumps({**header, **change}))
        assert_refused(path, match)


def test_safetensors_header_length_starting_with_0x80_is_not_a_pickle():
    """A header of 128 mod 256 bytes starts the file with 0x80, a pickle's first byte too."""
    from dancerev_core.model.checkpoint import _sniff

    head = (0x3080).to_bytes(8, "little") + b'{"__metadata__"'
    assert head[:1] == b"\x80"
    assert _sniff(head) == "safetensors"
    assert _sniff(b"\x80\x04\x95") == "pickle"

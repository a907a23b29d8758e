"""`dancerev ablate`: five schedules trained, danced and evaluated into one report (tiny)."""

from __future__ import annotations

import json

import pytest

from dancerev_core.cli import main
from dancerev_core.model.checkpoint import load_checkpoint
from dancerev_core.model.curriculum import SCHEDULES
from tests.core.test_evaluation_suite import assert_png, write_paired

TINY = {"model": dict(d_model=16, n_layers=1, n_heads=2, d_k=8, d_v=8, d_inner=32, window=5,
                      decoder_hidden=32, decoder_layers=1, dropout=0.0, lam=1.0),
        "training": dict(seq_len=30, batch_size=8, lr=3e-3, val_fraction=0.5)}


@pytest.fixture
def dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "dataset"
    write_paired(root, [("ballet", "005_02"), ("ballet", "005_04"), ("salsa", "60_01_scaled"),
                        ("salsa", "61_02_scaled")], seconds=6.0)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    return root, config


def test_ablate_end_to_end_on_a_tiny_config(dataset, tmp_path, capsys):
    root, config = dataset
    out = tmp_path / "ablation"
    args = ["ablate", str(root), "-o", str(out), "--epochs", "1", "--config", str(config),
            "--classifier-epochs", "2", "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert [entry["name"] for entry in metrics["sets"]] == ["real", *SCHEDULES]
    held_out = metrics["ablation"]["held_out_clips"]
    assert len(held_out) == 2  # val_fraction 0.5 of 4 clips
    for schedule in SCHEDULES:
        assert schedule in printed
        last = load_checkpoint(out / "runs" / schedule / "last.json")
        assert last.config.schedule == schedule and last.training["epoch"] == 1
        dances = sorted((out / "generated" / schedule).rglob("*.npz"))
        assert len(dances) == 2 * len(held_out)  # --num 2 per held-out song
    runs = {run["schedule"]: run for run in metrics["training runs"]["runs"]}
    assert runs["teacher_forcing"]["self_fed_length"] == 0
    assert runs["const"]["self_fed_length"] == 10  # condition_step
    assert runs["linear"]["self_fed_length"] == 1 and runs["exponential"]["self_fed_length"] == 2
    for entry in metrics["sets"][1:]:
        row = entry["metrics"]
        assert row["dances"] == 4 and row["fid"] is not None and row["fid_k"] is not None
        assert row["multimodality"] is not None and row["musical_beats"] > 0
        assert row["tolerance_seconds"] == 0.1
    report = (out / "report" / "report.md").read_text()
    assert "## training runs" in report and "Curriculum ablation: 5 schedules x 1" in report
    assert_png(out / "report" / "metric_table.png")


def test_ablate_continues_finished_runs_and_refuses_another_configuration(dataset, tmp_path,
                                                                          capsys):
    root, config = dataset
    out = tmp_path / "ablation"
    base = ["ablate", str(root), "-o", str(out), "--config", str(config), "--quiet",
            "--schedules", "linear", "--no-classifier"]
    assert main(base + ["--epochs", "1"]) == 0
    assert "already trained" not in capsys.readouterr().out
    assert main(base + ["--epochs", "1"]) == 0  # kept, then danced and scored again
    assert "linear: already trained (1 epochs)" in capsys.readouterr().out
    assert main(base + ["--epochs", "2"]) == 0  # resumed to 2
    assert load_checkpoint(out / "runs" / "linear" / "last.json").training["epoch"] == 2
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**TINY, "model": {**TINY["model"], "d_model": 24}}))
    capsys.readouterr()
    assert main(base[:5] + [str(other)] + base[6:] + ["--epochs", "1"]) == 2
    assert "another configuration" in capsys.readouterr().err
    assert main(base + ["--epochs", "1", "--schedules", "nope"]) == 2
    assert "unknown schedule" in capsys.readouterr().err

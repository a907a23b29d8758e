"""Blender tests run against the bpy module with a throw-away user configuration."""

import os
import sys
import tempfile

import pytest

from tests.conftest import song_excerpt

# Must happen before bpy is first imported, so the user's own Blender settings, add-ons
# and extensions are never read or written by the tests.
_USER_RESOURCES = tempfile.mkdtemp(prefix="dancerev-blender-user-")
os.environ["BLENDER_USER_RESOURCES"] = _USER_RESOURCES


NO_AUDIO = ("this Blender has no audio (bpy 4.2's PyPI wheel): DanceRev skips the song "
            "strip there, with a notice")


def song_strip_types(scene) -> list[str]:
    """The types of the scene's strips, and what a dance with a song should have made."""
    from addon import compat

    return ([strip.type for strip in compat.all_strips(scene.sequence_editor)],
            ["SOUND"] if compat.has_audio() else [])


def video_streams() -> set[str]:
    """The streams a preview with the song has: the song's audio only where Blender has it."""
    from addon import compat

    return {"video", "audio"} if compat.has_audio() else {"video"}


def needs_audio() -> None:
    from addon import compat

    if not compat.has_audio():
        pytest.skip(NO_AUDIO)


# --------------------------------------------------- the panel's operators, with a worker
OPERATOR_SONG = "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"


@pytest.fixture(scope="module")
def registered():
    import addon

    addon.register()
    yield
    addon.unregister()


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """6 s of a real song as a wav file."""
    return song_excerpt(OPERATOR_SONG, tmp_path_factory.mktemp("song") / "groove.wav", 20, 26)


@pytest.fixture
def scene(registered, tmp_path, monkeypatch):
    """An empty scene whose worker uses this Python and a private cache and scratch folder."""
    import bpy

    import addon
    from addon import runs

    bpy.ops.wm.read_factory_settings(use_empty=True)
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(addon.settings, "user_folder", lambda: tmp_path / "user")
    monkeypatch.setattr(addon.runs.jobs, "find_python", lambda *args: sys.executable)
    yield bpy.context.scene
    runs.cancel_all()
    runs.stop_warm_worker()


@pytest.fixture
def dancer(scene):
    import bpy

    assert bpy.ops.dancerev.add_default_character() == {"FINISHED"}
    return scene.dancerev.armature



TINY_MODEL = dict(d_model=16, n_layers=1, n_heads=2, d_k=8, d_v=8, d_inner=32, window=4,
                  decoder_hidden=32)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny untrained canonical 3D model: real weights, real decoding, seconds to run."""
    import torch

    from dancerev_core.model import ModelConfig, Seq2Seq, save_checkpoint

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    return save_checkpoint(folder / "tiny", Seq2Seq(ModelConfig(joint_set="canonical24",
                                                                **TINY_MODEL)),
                           training={"epoch": 0})


@pytest.fixture
def stops_its_workers(monkeypatch):
    """Every worker the add-on starts during the test is stopped when the test ends.

    `dance` in this process waits for its worker without a deadline; when a test's own
    deadline (pytest-timeout) stops it, this keeps a hung worker from outliving the test.
    """
    from addon import jobs

    started = []
    start = jobs.WorkerJob.start

    def recording_start(job):
        started.append(job)
        return start(job)

    monkeypatch.setattr(jobs.WorkerJob, "start", recording_start)
    yield
    for job in started:
        job.cancel(wait=True)  # nothing for a finished job; else a cancel, then a kill
    from addon import runs

    runs.stop_warm_worker()


# bpy's module does not always shut down cleanly once every test has reported: 4.2 crashes
# (SIGSEGV) while the interpreter shuts down, and a CI run under 4.5.15 hung after its
# leak report until `timeout` killed it (exit 124, with all 90 tests passed). Either way the
# run's status would not be the tests'. So the process ends with pytest's own exit status
# once pytest is done, before that shutdown, under every Blender.
_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    import bpy

    from dancerev_core import signals

    if _EXIT_STATUS:  # what the shutdown would have removed goes first
        signals.exit_now(_EXIT_STATUS[-1], remove=(bpy.app.tempdir, _USER_RESOURCES))

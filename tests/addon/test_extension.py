"""The built extension installs headless, registers its panel and sees the active rig."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

bpy = pytest.importorskip("bpy")

# The slowest test, a dance through the installed zip's own worker, takes about 5 s with the
# build; the deadline makes a hung worker or build fail the test instead of hanging the run.
pytestmark = pytest.mark.timeout(120, method="signal")


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory):
    output = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, str(REPO_ROOT / "build.py"), "--output-dir",
                             str(output)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    (path,) = output.glob("dancerev-*.zip")
    return path


def test_zip_carries_addon_core_and_rigs(extension_zip):
    names = zipfile.ZipFile(extension_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert "dancerev_core/motion.py" in names and "rigs/cmu_daz.json" in names
    assert not any("__pycache__" in name for name in names)


@pytest.mark.parametrize("shipped", ["dance-default.json", "lifter.json"])
def test_zip_carries_the_shipped_weights_byte_for_byte(extension_zip, shipped):
    """The built-in dance model and the lifter travel in the zip as the repository has them:
    without them an installed extension has no default model and cannot lift."""
    pretrained = REPO_ROOT / "dancerev_core" / "pretrained"
    with zipfile.ZipFile(extension_zip) as archive:
        packed = archive.read(f"dancerev_core/pretrained/{shipped}")
        weights = json.loads(packed)["weights"]  # the exact file the JSON names
        assert packed == (pretrained / shipped).read_bytes()
        assert archive.read(f"dancerev_core/pretrained/{weights}") == (
            pretrained / weights).read_bytes()
        stem = shipped.removesuffix(".json")
        stale = [name for name in archive.namelist()
                 if name.startswith(f"dancerev_core/pretrained/{stem}.")
                 and name.endswith(".safetensors") and not name.endswith(f"/{weights}")]
        assert stale == [], "weights no JSON names would only make the zip larger"


def test_installs_and_enables_headless(extension_zip):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    result = bpy.ops.extensions.package_install_files(
        filepath=str(extension_zip), repo="user_default", enable_on_install=True)
    assert result == {"FINISHED"}
    module = sys.modules["bl_ext.user_default.dancerev"]
    assert hasattr(bpy.types, "DANCEREV_PT_main")
    # The core inside the zip is the one the add-on uses, not the repository's.
    assert module.core.dancerev_core.__name__ == "bl_ext.user_default.dancerev.dancerev_core"

    armature = bpy.data.armatures.new("Rig")
    rig = bpy.data.objects.new("Rig", armature)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    joint_map = json.loads((REPO_ROOT / "rigs" / "cmu_character_creator.json").read_text())
    names = sorted({name for value in joint_map["joints"].values()
                    for name in ([value] if isinstance(value, str) else value)})
    for index, name in enumerate(names):
        bone = armature.edit_bones.new(name)
        bone.head, bone.tail = (0, 0, index), (0, 0, index + 0.5)
    bpy.ops.object.mode_set(mode="OBJECT")
    panels = module.panels
    assert panels.rig_summary(rig) == "Rig: cmu_character_creator"
    # the summary follows a renamed bone (same bone count) without a restart
    armature.bones["CC_Base_Head"].name = "Head_renamed"
    assert panels.rig_summary(rig).startswith("Not a mappable humanoid: ")
    armature.bones["Head_renamed"].name = "CC_Base_Head"
    assert panels.rig_summary(rig) == "Rig: cmu_character_creator"
    bpy.ops.object.mode_set(mode="EDIT")
    armature.edit_bones.remove(armature.edit_bones["CC_Base_Head"])
    bpy.ops.object.mode_set(mode="OBJECT")
    assert panels.rig_summary(rig).startswith("Not a mappable humanoid: ")
    assert panels.rig_summary(None).startswith("No armature")

    bpy.ops.preferences.addon_disable(module="bl_ext.user_default.dancerev")
    assert not hasattr(bpy.types, "DANCEREV_PT_main")


def test_the_installed_extension_dances_with_its_own_core(extension_zip, model, tmp_path,
                                                          monkeypatch):
    """Generate through the installed zip: its operators, its worker, its dancerev_core."""
    import soundfile

    from dancerev_core.recipe.synth import write_demo_track

    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.extensions.package_install_files(
        filepath=str(extension_zip), repo="user_default", enable_on_install=True) == {"FINISHED"}
    module = sys.modules["bl_ext.user_default.dancerev"]
    monkeypatch.setenv("DANCEREV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    song = tmp_path / "groove.wav"
    write_demo_track(song, seconds=4)
    assert soundfile.info(song).duration == pytest.approx(4, abs=0.1)
    assert bpy.ops.dancerev.add_default_character() == {"FINISHED"}
    settings = bpy.context.scene.dancerev
    settings.song_path, settings.checkpoint_path = str(song), str(model)
    assert bpy.ops.dancerev.generate() == {"FINISHED"}
    job = module.runs.active("generate").job
    assert Path(job.core_path) == Path(module.__file__).parent  # the zip's own core
    module.runs.finish_all(timeout=120)
    assert "Error" not in settings.status, settings.status
    assert module.keyframes.is_dance_action(settings.armature.animation_data.action)
    bpy.ops.preferences.addon_disable(module="bl_ext.user_default.dancerev")

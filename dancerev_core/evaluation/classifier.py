"""The paper's style classifier: whose features FID, ACC, diversity and multimodality use.

Model (paper-notes.md): a linear pose embedding (pose values -> 200), one LSTM (hidden 200),
its last hidden state is the feature, a linear head gives the genre. It reads windows of
`window` frames (50) at the model's fps (15: 3.3 s), trained on real dances only.

What one input frame is (`window_poses`): every joint relative to the root, and the root
relative to where it was at the window's first frame. So where the dancer stands in the room
does not count, how they travel does. 3D training windows are also turned about the vertical
axis at random, so the direction a dancer faces does not decide the genre either.

Training (`train_classifier`) splits by dance, per genre, so held-out accuracy is measured
on dances the classifier never saw: with 2+ dances in a genre, round(val_fraction x dances)
of them (at least 1) validate. Training windows overlap by half, held-out ones do not; the
loss weighs each genre by the inverse of its share, so a big genre does not win by size.

Saved like a model checkpoint (model/checkpoint.py): NAME.json (format
"dancerev-style-classifier", config, training record, weights name, size, sha256) and
NAME.<sha256[:16]>.safetensors, weights first, the JSON as the commit point, each written
atomically; loading checks size and hash and never unpickles.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from ..errors import DanceRevError, InputFileError
from ..motion import Motion
from ..skeletons import joint_set
from ..weights_pair import checked_weights, save_pair
from ..weights_pair import json_path as pair_json_path

FORMAT = "dancerev-style-classifier"
VERSION = 1
WINDOW = 50
HIDDEN = 200
MAX_JSON_BYTES = 1 << 20
Log = Callable[[str], None]


@dataclass(frozen=True)
class ClassifierConfig:
    """Sizes and what the classifier reads: joint set, frame rate, window, genres."""

    joint_set: str
    genres: tuple[str, ...]
    fps: float = 15.0
    window: int = WINDOW
    embed: int = HIDDEN
    hidden: int = HIDDEN

    def __post_init__(self) -> None:
        joint_set(self.joint_set)  # raises for an unknown joint set
        object.__setattr__(self, "genres", tuple(str(g) for g in self.genres))
        if len(self.genres) < 2 or len(set(self.genres)) != len(self.genres):
            raise DanceRevError(f"a style classifier needs 2 or more distinct genres, got "
                                f"{list(self.genres)}")
        for name in ("window", "embed", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise DanceRevError(f"classifier {name} must be a whole number >= 2, "
                                    f"got {value!r}")
        if not (isinstance(self.fps, int | float) and math.isfinite(self.fps) and self.fps > 0):
            raise DanceRevError(f"classifier fps must be positive, got {self.fps!r}")
        object.__setattr__(self, "fps", float(self.fps))

    @property
    def pose_size(self) -> int:
        js = joint_set(self.joint_set)
        return js.num_joints * js.dims

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "genres": list(self.genres)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClassifierConfig:
        try:
            return cls(**values)
        except TypeError as error:
            raise DanceRevError(f"bad classifier config ({error})") from None


class StyleClassifier(nn.Module):
    """Pose embedding -> LSTM -> last hidden state (the feature) -> genre logits."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Linear(config.pose_size, config.embed)
        self.lstm = nn.LSTM(config.embed, config.hidden, batch_first=True)
        self.head = nn.Linear(config.hidden, len(config.genres))

    def features(self, poses: torch.Tensor) -> torch.Tensor:
        """(B, T, pose_size) -> (B, hidden): the LSTM's hidden state after the last frame."""
        _, (hidden, _) = self.lstm(self.embed(poses))
        return hidden[-1]

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(poses))


# ---------------------------------------------------------------------- inputs
def window_poses(windows: np.ndarray, joints: str) -> np.ndarray:
    """(N, T, J, D) absolute positions -> (N, T, J*D) classifier input (module docstring)."""
    windows = np.asarray(windows, dtype=np.float32)
    root = joint_set(joints).root
    relative = windows - windows[:, :, root:root + 1]
    relative[:, :, root] = windows[:, :, root] - windows[:, :1, root]
    return relative.reshape(windows.shape[0], windows.shape[1], -1)


def cut_windows(positions: np.ndarray, window: int, stride: int) -> np.ndarray:
    """(T, J, D) -> (N, window, J, D): windows starting every `stride` frames; tail dropped."""
    starts = range(0, positions.shape[0] - window + 1, stride)
    if not starts:
        return np.zeros((0, window, *positions.shape[1:]), np.float32)
    return np.stack([positions[s:s + window] for s in starts]).astype(np.float32)


def _random_yaw(windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Turn each 3D window about the vertical (Z) axis by a random angle."""
    angles = rng.uniform(0, 2 * np.pi, size=len(windows))
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    turned = windows.copy()
    turned[..., 0] = cos * windows[..., 0] - sin * windows[..., 1]
    turned[..., 1] = sin * windows[..., 0] + cos * windows[..., 1]
    return turned


class LabelledDance(Protocol):
    name: str
    motion: Motion
    genre: str | None


# ---------------------------------------------------------------------- training
@dataclass
class ClassifierResult:
    model: StyleClassifier
    training: dict[str, Any] = field(default_factory=dict)  # data, split, history, accuracy


def split_dances(dances: Sequence[LabelledDance], val_fraction: float,
                 seed: int) -> tuple[list[int], list[int]]:
    """Indices of training and held-out dances, split per genre (module docstring)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for genre in sorted({d.genre for d in dances}):
        members = [i for i, d in enumerate(dances) if d.genre == genre]
        count = 0
        if len(members) >= 2 and val_fraction > 0:
            count = min(len(members) - 1, max(1, round(val_fraction * len(members))))
        order = [members[i] for i in rng.permutation(len(members))]
        val += order[:count]
        train += order[count:]
    return sorted(train), sorted(val)


def _windows(dances: Sequence[LabelledDance], indices: list[int], genres: tuple[str, ...],
             window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    parts, labels = [], []
    for i in indices:
        cut = cut_windows(dances[i].motion.positions, window, stride)
        parts.append(cut)
        labels += [genres.index(dances[i].genre)] * len(cut)
    if not parts or not labels:
        return np.zeros((0, window, 0, 0), np.float32), np.zeros(0, np.int64)
    return np.concatenate(parts), np.asarray(labels, np.int64)


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run with `count` torch threads, then restore: a 200-unit LSTM gains nothing from more,
    and on a busy machine extra threads only wait for each other (6x slower here)."""
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_classifier(dances: Sequence[LabelledDance], *, fps: float, epochs: int = 30,
                     batch_size: int = 32, lr: float = 1e-3, seed: int = 0,
                     val_fraction: float = 0.2, window: int = WINDOW, hidden: int = HIDDEN,
                     threads: int | None = 1, progress: bool = True,
                     log: Log | None = None) -> ClassifierResult:
    """Train on real dances (motions already at `fps`, absolute, one joint set, 2+ genres)."""
    with torch_threads(threads):
        return _train_classifier(dances, fps, epochs, batch_size, lr, seed, val_fraction,
                                 window, hidden, progress, log)


def _train_classifier(dances: Sequence[LabelledDance], fps: float, epochs: int,
                      batch_size: int, lr: float, seed: int, val_fraction: float, window: int,
                      hidden: int, progress: bool, log: Log | None) -> ClassifierResult:
    from ..console import progress_bar

    say = log or (lambda _message: None)
    labelled = [d for d in dances if d.genre]
    genres = tuple(sorted({d.genre for d in labelled}))
    sets = {d.motion.skeleton for d in labelled}
    if len(sets) != 1:
        raise DanceRevError(f"classifier training needs dances of one joint set, got "
                            f"{sorted(sets) or 'none'}")
    config = ClassifierConfig(joint_set=sets.pop(), genres=genres, fps=fps, window=window,
                              embed=hidden, hidden=hidden)
    train_ids, val_ids = split_dances(labelled, val_fraction, seed)
    train_x, train_y = _windows(labelled, train_ids, genres, window, max(1, window // 2))
    val_x, val_y = _windows(labelled, val_ids, genres, window, window)
    if len(train_x) == 0:
        raise DanceRevError(f"no dance is {window} frames long at {fps:g} fps: nothing to "
                            "train the style classifier on")
    counts = np.bincount(train_y, minlength=len(genres))
    missing = [g for g, n in zip(genres, counts, strict=True) if n == 0]
    if missing:
        raise DanceRevError(f"no training window of genre(s) {', '.join(missing)} "
                            f"({window} frames at {fps:g} fps needed)")
    weights = torch.tensor(len(train_y) / (len(genres) * counts), dtype=torch.float32)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = StyleClassifier(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    turn = joint_set(config.joint_set).dims == 3
    history = []
    bar = progress_bar(range(1, epochs + 1), desc="style classifier", unit="epoch",
                       disable=not progress)
    started = time.perf_counter()
    for epoch in bar:
        model.train()
        order = rng.permutation(len(train_x))
        total = 0.0
        for begin in range(0, len(order), batch_size):
            batch = order[begin:begin + batch_size]
            windows = _random_yaw(train_x[batch], rng) if turn else train_x[batch]
            poses = torch.from_numpy(window_poses(windows, config.joint_set))
            loss = F.cross_entropy(model(poses), torch.from_numpy(train_y[batch]),
                                   weight=weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total += loss.item() * len(batch)
        entry = {"epoch": epoch, "loss": total / len(order)}
        if len(val_x):
            entry["val_accuracy"] = accuracy(model, val_x, val_y)
        history.append(entry)
        bar.set_postfix(loss=f"{entry['loss']:.3f}",
                        val=f"{entry.get('val_accuracy', float('nan')):.2f}", refresh=False)
    model.eval()
    summary = {
        "fps": fps, "window": window, "genres": list(genres), "epochs": epochs, "lr": lr,
        "batch_size": batch_size, "seed": seed, "val_fraction": val_fraction,
        "train": {"dances": len(train_ids), "windows": int(len(train_x)),
                  "windows_per_genre": {g: int(n) for g, n in zip(genres, counts, strict=True)},
                  "stride": max(1, window // 2)},
        "val": {"dances": len(val_ids), "windows": int(len(val_x)),
                "names": [labelled[i].name for i in val_ids]},
        "val_accuracy": history[-1].get("val_accuracy"),
        "chance": 1.0 / len(genres), "seconds": round(time.perf_counter() - started, 2),
        "history": history,
    }
    held_out = summary["val_accuracy"]
    say(f"style classifier: {len(train_x)} training windows of {window} frames at {fps:g} fps "
        f"({', '.join(f'{g} {n}' for g, n in zip(genres, counts, strict=True))}); "
        + (f"held-out accuracy {held_out:.1%} on {len(val_x)} windows of {len(val_ids)} "
           f"dances (chance {1 / len(genres):.0%})" if held_out is not None
           else "no held-out dances"))
    return ClassifierResult(model=model, training=summary)


# ---------------------------------------------------------------------- using it
@torch.no_grad()
def predict(model: StyleClassifier, windows: np.ndarray, batch_size: int = 256,
            threads: int | None = 1) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, hidden), predicted genre index (N,)) for (N, T, J, D) windows."""
    with torch_threads(threads):
        return _predict(model, windows, batch_size)


def _predict(model: StyleClassifier, windows: np.ndarray,
             batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    features, labels = [], []
    for begin in range(0, len(windows), batch_size):
        poses = torch.from_numpy(window_poses(windows[begin:begin + batch_size],
                                              model.config.joint_set))
        feature = model.features(poses)
        features.append(feature.double().numpy())
        labels.append(model.head(feature).argmax(dim=1).numpy())
    if not features:
        return np.zeros((0, model.config.hidden)), np.zeros(0, np.int64)
    return np.concatenate(features), np.concatenate(labels)


def accuracy(model: StyleClassifier, windows: np.ndarray, labels: np.ndarray) -> float:
    _, predicted = predict(model, windows)
    return float((predicted == labels).mean())


# ---------------------------------------------------------------------- saving and loading
def classifier_json(path: str | Path) -> Path:
    return pair_json_path(path)


def save_classifier(path: str | Path, model: StyleClassifier,
                    training: dict[str, Any] | None = None) -> Path:
    """NAME.json + NAME.<hash>.safetensors, atomically (`weights_pair.py`); the JSON's path."""
    tensors = {k: t.detach().cpu().contiguous() for k, t in model.state_dict().items()}
    data = save_safetensors(tensors, metadata={"format": FORMAT})
    return save_pair(path, data, {"format": FORMAT, "version": VERSION,
                                  "classifier": model.config.to_dict(),
                                  "training": training or {}})


@dataclass
class LoadedClassifier:
    path: Path
    config: ClassifierConfig
    model: StyleClassifier
    training: dict[str, Any]


def load_classifier(path: str | Path) -> LoadedClassifier:
    """Load a saved style classifier; every refusal is one line naming the file."""
    json_path = classifier_json(path)
    if not json_path.is_file():
        raise InputFileError(json_path, "style classifier not found")
    raw = json_path.read_bytes()[:MAX_JSON_BYTES + 1]
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InputFileError(json_path, f"is not a DanceRev style classifier (no 'format': "
                                        f"'{FORMAT}' in its JSON; train one with `dancerev "
                                        "eval train-classifier`)")
    if header.get("version") != VERSION:
        raise InputFileError(json_path, f"style classifier version {header.get('version')!r} "
                                        f"is not supported (this DanceRev reads {VERSION})")
    try:
        config = ClassifierConfig.from_dict(header["classifier"])
    except (DanceRevError, KeyError, TypeError) as error:
        raise InputFileError(json_path, f"bad classifier config: {error}") from None
    weights, data = checked_weights(json_path, header)
    model = StyleClassifier(config)
    try:
        model.load_state_dict(load_safetensors(data))
    except (SafetensorError, RuntimeError, ValueError) as error:
        raise InputFileError(weights, f"weights do not fit the classifier config "
                                      f"({str(error).splitlines()[0]})") from None
    model.eval()
    return LoadedClassifier(path=json_path, config=config, model=model,
                            training=header.get("training") or {})

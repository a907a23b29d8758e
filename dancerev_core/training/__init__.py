"""Training the Seq2Seq model: datasets to aligned windows (`data`), the loop (`loop`).

`data` needs numpy alone; `loop` needs torch. `dancerev train` (commands/train.py) ties them
together; from Python:

    data = load_training_data("dataset/", joint_set=None, seq_len=120)
    train(data, ModelConfig(joint_set=data.joint_set), TrainConfig(epochs=100), "runs/a")
"""

from .data import (
    DEFAULT_SEQ_LEN,
    DEFAULT_VAL_FRACTION,
    AlignedClip,
    TrainingData,
    Windows,
    load_training_data,
)
from .loop import DistEnv, TrainConfig, TrainResult, load_run, train

__all__ = ["DEFAULT_SEQ_LEN", "DEFAULT_VAL_FRACTION", "AlignedClip", "DistEnv", "TrainConfig",
           "TrainResult", "TrainingData", "Windows", "load_run", "load_training_data", "train"]

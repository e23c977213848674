"""Training, fine-tuning and evaluation of EquiformerV2 potentials (`eqv2 train`, `eqv2 eval`).

load_config(path, overrides) -> TrainConfig     YAML + ``key.sub=value`` overrides, checked
train(config, run_dir, resume) -> dict          the training loop (DDP under torchrun)
predict_dataset, compute_metrics                evaluation metrics of `eqv2.train.metrics`
"""

from eqv2.train.config import ConfigError, TrainConfig, config_from_dict, load_config
from eqv2.train.metrics import Predictions, compute_metrics, predict_dataset
from eqv2.train.trainer import Trainer, train

__all__ = [
    "ConfigError",
    "Predictions",
    "TrainConfig",
    "Trainer",
    "compute_metrics",
    "config_from_dict",
    "load_config",
    "predict_dataset",
    "train",
]

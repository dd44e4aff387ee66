"""verl integration: run RL fine-tuning of an agent's model as a verl (Ray) job.

``VeRLTrainer`` turns the trainer contract into a ``verl.trainer.main_ppo`` run: it
writes the data as verl RL parquet files, a reward module that scores through orbiter's
core (or the user's :class:`RewardSpec`), builds the Hydra overrides, runs verl as a
subprocess and reads its metrics back. This package imports neither verl nor pyarrow;
``pip install 'orbiter-train[verl]'`` installs both.
"""

from __future__ import annotations

from orbiter.train.verl.config import RewardSpec, VeRLAlgorithm, VeRLConfig
from orbiter.train.verl.trainer import VeRLTrainer

__all__ = ["RewardSpec", "VeRLAlgorithm", "VeRLConfig", "VeRLTrainer"]

"""verl integration: run RL fine-tuning of an agent's model as a verl (Ray) job.

``VeRLTrainer`` turns the trainer contract into a ``verl.trainer.main_ppo`` run: it
writes the data as verl RL parquet files (``dataset``), builds the Hydra overrides with
OmegaConf and Hydra's grammar (``overrides``), pointing verl's ``custom_reward_function``
at the static module :mod:`orbiter.train.integrations.verl` (orbiter's core or the user's
:class:`RewardSpec`, chosen by ``reward_kwargs``: ``reward``), runs verl as a subprocess
(``process``) and reads the metrics of verl's ``file`` logger back (``metrics``). This
package imports neither verl nor pyarrow (omegaconf and hydra-core only when overrides are
built);
``pip install 'orbiter-train[verl]'`` installs them all.
"""

from __future__ import annotations

from orbiter.train.verl.config import RewardSpec, VeRLAlgorithm, VeRLConfig
from orbiter.train.verl.trainer import VeRLTrainer

__all__ = ["RewardSpec", "VeRLAlgorithm", "VeRLConfig", "VeRLTrainer"]

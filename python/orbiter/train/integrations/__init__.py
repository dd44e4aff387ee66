"""orbiter's rewards where users already train.

- :mod:`orbiter.train.integrations.trl`: reward functions for TRL's ``GRPOTrainer``
  (:func:`~orbiter.train.integrations.trl.reward_function`, and an async form);
- :mod:`orbiter.train.integrations.verl`: ``compute_score`` / ``compute_score_batch`` for
  verl's naive and batch reward managers (``custom_reward_function.path`` points at that
  file; ``VeRLTrainer`` uses it too);
- :mod:`orbiter.train.integrations.verl_agent_loop` and
  :mod:`orbiter.train.integrations.trl_rollout`: a
  :class:`~orbiter.train.trajectories.TrajectoryBatch` as verl's ``AgentLoopOutput`` fields and
  as TRL's ``rollout_func`` output, and back.

Neither module imports its framework: each follows the framework's calling contract.
"""

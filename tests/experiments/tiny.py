"""A training budget of seconds for tests that run whole train jobs (sweeps, multiruns)."""

TINY_TRAIN = [
    "train.total_timesteps=256",
    "train.n_envs=8",
    "train.eval_freq=0",
    "train.eval_episodes=4",
    "train.checkpoint_freq=0",
    "agent.hyperparams.n_steps=16",
    "agent.hyperparams.batch_size=64",
    "agent.hyperparams.n_epochs=1",
]

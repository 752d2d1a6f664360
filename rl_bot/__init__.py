"""rl-bot: a distributed trainer for Rocket League bots (RocketSim + rlgym v2 + Ray RLlib)."""

__version__ = "0.1.0"

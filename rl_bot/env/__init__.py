"""Environment layer: rlgym v2 components and game (pure) plus the RLlib adapter (``rllib_env``)."""

"""RLlib callbacks: env metrics now; league and curriculum plug in beside it."""

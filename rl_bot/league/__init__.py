"""League: Elo maths and the rule-based bot (pure: no Ray import)."""

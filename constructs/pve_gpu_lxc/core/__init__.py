"""Bottom layer: the one exception type (and, later, the value rules shared by model, facts and image)."""

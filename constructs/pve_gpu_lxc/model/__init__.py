"""The pure model: props, values and every rule (no cdktf import)."""

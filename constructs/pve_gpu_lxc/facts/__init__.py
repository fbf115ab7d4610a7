"""Recorded host facts: parsers, the facts model, GPU selection and checks (no cdktf import)."""

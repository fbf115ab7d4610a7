"""Test infrastructure for host facts: a fake node sysroot for the collector (not product)."""

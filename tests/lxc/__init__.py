"""LXC harness tests: unit tests of the harness and real container boots (marked lxc)."""

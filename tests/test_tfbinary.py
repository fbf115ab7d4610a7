"""Which Terraform-compatible binary `pve-gpu-lxc drift` runs (drift.find_terraform; no subprocess).

--terraform if given, else $TERRAFORM_BINARY_NAME (what cdktf-cli reads), else `terraform` on
PATH, else `tofu` on PATH.  A fake `which` stands in for the file system.
"""

from __future__ import annotations

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc.cli import drift


def fake_which(*found: str):
    """`which(name, path)` that knows the given names and absolute paths, and records lookups."""
    table = {name: (name if name.startswith("/") else f"/usr/bin/{name}") for name in found}
    seen: list[tuple[str, str]] = []

    def which(name: str, path: str) -> str | None:
        seen.append((name, path))
        return table.get(name)

    which.seen = seen  # type: ignore[attr-defined]
    return which


ENV = {"PATH": "/usr/bin:/bin"}


def test_auto_detect_prefers_terraform() -> None:
    assert drift.find_terraform(None, ENV, fake_which("terraform", "tofu")) == "/usr/bin/terraform"


def test_auto_detect_falls_back_to_tofu() -> None:
    which = fake_which("tofu")
    assert drift.find_terraform(None, ENV, which) == "/usr/bin/tofu"
    assert which.seen == [("terraform", "/usr/bin:/bin"), ("tofu", "/usr/bin:/bin")]  # on the env's PATH


def test_environment_variable_beats_auto_detect() -> None:
    env = {**ENV, "TERRAFORM_BINARY_NAME": "tofu"}
    assert drift.find_terraform(None, env, fake_which("terraform", "tofu")) == "/usr/bin/tofu"
    env = {**ENV, "TERRAFORM_BINARY_NAME": "/opt/tofu/bin/tofu"}
    assert drift.find_terraform(None, env, fake_which("terraform", "/opt/tofu/bin/tofu")) == "/opt/tofu/bin/tofu"


def test_flag_beats_the_environment_variable() -> None:
    env = {**ENV, "TERRAFORM_BINARY_NAME": "tofu"}
    which = fake_which("terraform", "tofu", "/opt/tf/terraform")
    assert drift.find_terraform("/opt/tf/terraform", env, which) == "/opt/tf/terraform"
    assert [name for name, _ in which.seen] == ["/opt/tf/terraform"]


def test_empty_environment_variable_means_unset() -> None:
    env = {**ENV, "TERRAFORM_BINARY_NAME": "  "}
    assert drift.find_terraform(None, env, fake_which("terraform")) == "/usr/bin/terraform"


def test_a_named_binary_that_is_missing_is_an_error_not_a_fallback() -> None:
    # a typo in the variable or flag must not silently run another tool
    env = {**ENV, "TERRAFORM_BINARY_NAME": "tofuu"}
    with pytest.raises(drift.DriftError) as info:
        drift.find_terraform(None, env, fake_which("terraform", "tofu"))
    assert str(info.value) == "TERRAFORM_BINARY_NAME=tofuu: not found on PATH (give a path, or a name on PATH)"
    with pytest.raises(drift.DriftError) as info:
        drift.find_terraform("/nope/terraform", ENV, fake_which("terraform"))
    assert str(info.value) == "--terraform /nope/terraform: not an executable file"


def test_nothing_found_names_all_three_ways() -> None:
    with pytest.raises(drift.DriftError) as info:
        drift.find_terraform(None, ENV, fake_which())
    message = str(info.value)
    assert "terraform" in message and "tofu" in message
    assert "TERRAFORM_BINARY_NAME" in message and "--terraform" in message


def test_cli_passes_only_the_flag_and_leaves_the_rest_to_find_terraform() -> None:
    parser = cli.build_parser()
    env = {"TERRAFORM_BINARY_NAME": "tofu"}
    assert cli.drift_options(parser.parse_args(["drift"]), env).terraform is None
    assert cli.drift_options(parser.parse_args(["drift", "--terraform", "tf"]), env).terraform == "tf"


def test_help_names_the_environment_variable() -> None:
    text = " ".join(cli.build_parser()._subparsers._group_actions[0].choices["drift"].format_help().split())
    assert "$TERRAFORM_BINARY_NAME" in text and "`tofu` on PATH" in text

"""The CDK engine is chosen in one place, and cdktf and cdktn write the same Terraform JSON.

`make test` builds two virtual environments: `.venv` (`.[cdktf,dev]`, requirements.lock) and
`.venv-cdktn` (`.[cdktn,dev]`, requirements-cdktn.lock, no cdktf).  The tests here that use
both run from `.venv`; the Makefile runs the unit suite once more in `.venv-cdktn` under cdktn.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pve_gpu_lxc.engine import ENGINE_VARIABLE, EngineNotFoundError, select_engine

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = {"cdktf": ROOT / ".venv" / "bin" / "python", "cdktn": ROOT / ".venv-cdktn" / "bin" / "python"}
OTHER = {"cdktf": "cdktn", "cdktn": "cdktf"}

# What differs between the engines' output by design: the engine's version, which each
# writes into every stack's metadata and into the manifest.  Nothing else may differ.
BY_DESIGN = {
    "manifest.json": {("version",)},
    "stacks/intel-jellyfin/cdk.tf.json": {("//", "metadata", "version")},
    "stacks/nvidia-ollama/cdk.tf.json": {("//", "metadata", "version")},
}


def installed_only(*names: str) -> Any:
    return lambda name: name in names


# --------------------------------------------------------------------------- the choice (pure)

@pytest.mark.parametrize(
    ("environ", "installed", "loaded", "chosen"),
    [
        ({}, ("cdktf", "cdktn"), (), "cdktf"),  # both installed, nothing loaded: cdktf, as before cdktn existed
        ({}, ("cdktn",), (), "cdktn"),
        ({}, ("cdktf",), (), "cdktf"),
        ({}, ("cdktf", "cdktn"), ("cdktn",), "cdktn"),  # the app imported cdktn first: join its App
        ({}, ("cdktf", "cdktn"), ("cdktf", "cdktn"), "cdktf"),  # both loaded: no hint, the default order
        ({ENGINE_VARIABLE: "cdktn"}, ("cdktf", "cdktn"), ("cdktf",), "cdktn"),  # the variable wins
        ({ENGINE_VARIABLE: " cdktf "}, ("cdktf", "cdktn"), (), "cdktf"),
        ({ENGINE_VARIABLE: ""}, ("cdktn",), (), "cdktn"),  # empty is unset
    ],
)
def test_the_engine_is_chosen_by_variable_then_loaded_then_installed(
    environ: dict[str, str], installed: tuple[str, ...], loaded: tuple[str, ...], chosen: str
) -> None:
    assert select_engine(environ, installed_only(*installed), lambda name: name in loaded) == chosen


def test_neither_engine_names_both_pip_commands() -> None:
    with pytest.raises(EngineNotFoundError) as err:
        select_engine({}, installed_only())
    message = str(err.value)
    assert "neither cdktf nor cdktn is installed" in message
    assert "pip install 'pve-gpu-lxc[cdktf]'" in message and "pip install 'pve-gpu-lxc[cdktn]'" in message


def test_a_selected_engine_that_is_missing_names_its_pip_command() -> None:
    with pytest.raises(EngineNotFoundError, match=r"PVE_GPU_LXC_ENGINE=cdktn selects the engine cdktn, which is "
                                                  r"not installed in .*: pip install 'pve-gpu-lxc\[cdktn\]'$"):
        select_engine({ENGINE_VARIABLE: "cdktn"}, installed_only("cdktf"), lambda name: name == "cdktf")


def test_an_unknown_engine_name_is_refused_with_the_value() -> None:
    with pytest.raises(EngineNotFoundError, match=r"^PVE_GPU_LXC_ENGINE='CDKTF' is not an engine: use cdktf or cdktn"):
        select_engine({ENGINE_VARIABLE: "CDKTF"}, installed_only("cdktf", "cdktn"))


# --------------------------------------------------------------------------- the two environments

def python_of(engine: str) -> Path:
    python = PYTHONS[engine]
    if not python.exists():
        pytest.fail(f"{python} is missing: `make test` creates it (make {python.parent.parent.name}/.installed)")
    return python


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the settings the example stacks or the engine choice read."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROXMOX_VE_", "PVE_GPU_LXC_", "PG_CONN"))}
    env.pop("CDKTF_OUTDIR", None)
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    return env | extra


@pytest.mark.parametrize("engine", ["cdktf", "cdktn"])
def test_each_environment_lacks_the_other_engine_and_says_how_to_add_it(engine: str) -> None:
    """`.[cdktn]` pulls no cdktf (and `.[cdktf]` no cdktn): selecting the other one fails with its pip command."""
    other = OTHER[engine]
    result = subprocess.run([str(python_of(engine)), "-c", "import pve_gpu_lxc.engine"], cwd=ROOT,
                            env=clean_env(**{ENGINE_VARIABLE: other}), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"pve_gpu_lxc.engine.EngineNotFoundError: {ENGINE_VARIABLE}={other} selects the engine {other}, which is "
        f"not installed in {python_of(engine).parent.parent}: pip install 'pve-gpu-lxc[{other}]'")


def synth_examples(engine: str, outdir: Path) -> tuple[str, str]:
    """`python main.py` (what `cdktf synth` and `cdktn synth` run) under `engine`; the engine it reports."""
    python = str(python_of(engine))
    env = clean_env(CDKTF_OUTDIR=str(outdir), PVE_GPU_LXC_STATE_DIR=str(outdir.parent / "state"))
    result = subprocess.run([python, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    active = subprocess.run([python, "-c", "from pve_gpu_lxc.engine import ENGINE; print(*ENGINE)"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120, check=True).stdout.split()
    assert active[0] == engine  # auto-detected: each environment has its engine only
    return active[0], active[1]


def differing_paths(a: Any, b: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Key paths where two parsed JSON documents differ (a key on one side only counts)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            if key not in a or key not in b:
                yield (*path, key)
            else:
                yield from differing_paths(a[key], b[key], (*path, key))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from differing_paths(x, y, (*path, str(i)))
    elif a != b:
        yield path


def value_at(doc: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    return doc


def test_differing_paths_finds_changed_added_and_removed_keys() -> None:
    a = {"//": {"metadata": {"version": "1"}}, "r": [{"x": 1}, {"y": 2}], "gone": 1}
    b = {"//": {"metadata": {"version": "2"}}, "r": [{"x": 1}, {"y": 3}], "new": 1}
    assert set(differing_paths(a, b)) == {("//", "metadata", "version"), ("r", "1", "y"), ("gone",), ("new",)}
    assert set(differing_paths({"l": [1]}, {"l": [1, 2]})) == {("l",)}


def test_the_example_stacks_synthesize_the_same_json_under_cdktf_and_cdktn(tmp_path: Path) -> None:
    outputs, versions = {}, {}
    for engine in ("cdktf", "cdktn"):
        outputs[engine] = tmp_path / f"{engine}.out"
        _, versions[engine] = synth_examples(engine, outputs[engine])
    files = {e: sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) for e, out in outputs.items()}
    assert files["cdktf"] == files["cdktn"]
    assert set(files["cdktf"]) == set(BY_DESIGN)  # every file is compared; a new stack must be listed here
    for name, expected in BY_DESIGN.items():
        docs = {e: json.loads((outputs[e] / name).read_text()) for e in outputs}
        assert set(differing_paths(docs["cdktf"], docs["cdktn"])) == expected, name
        for path in expected:  # and what differs is each engine's own version
            assert {e: value_at(docs[e], path) for e in docs} == versions, (name, path)


def test_a_cdktn_app_type_checks_against_the_library(tmp_path: Path) -> None:
    """mypy --strict in the cdktn environment: the README's cdktn example passes, a wrong prop type is caught.

    The library's annotations name cdktf's classes; the check shows a cdktn-only user loses nothing.
    """
    from tests.test_readme import example

    app = tmp_path / "app.py"
    app.write_text(example("cdktn") + 'GpuContainer(stack, "bad", node_name="pve", vm_id="210", hostname="b", '
                   'template=Template.existing("local:vztmpl/x.tar.zst"))\n')
    bad_line = len(app.read_text().splitlines())
    result = subprocess.run([str(python_of("cdktn")), "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
                             app.name], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"app.py:{bad_line}: error: No overload variant of "
                                                     '"GpuContainer"'), result.stdout + result.stderr


def _lock(name: str) -> dict[str, str]:
    lines = (ROOT / name).read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if line and not line.startswith("#"))


def test_the_cdktn_lock_is_the_main_lock_with_the_engine_swapped() -> None:
    """The two environments differ in the engine only (and the constructs release cdktn accepts)."""
    main, cdktn = _lock("requirements.lock"), _lock("requirements-cdktn.lock")
    assert (main.get("cdktf"), cdktn.get("cdktn")) == ("0.21.0", "0.24.0")
    assert "cdktn" not in main and "cdktf" not in cdktn
    engine = {"cdktf", "cdktn", "constructs"}
    assert {k: v for k, v in main.items() if k not in engine} == {k: v for k, v in cdktn.items() if k not in engine}

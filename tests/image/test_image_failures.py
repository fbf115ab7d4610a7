"""Bad input and faults of the real image build, each with one message naming the step and the fix,
and nothing half-written where a finished template goes (the image cache, the node's storage).

Run for real: Debian's distrobuilder against a mirror that refuses connections (a failed
debootstrap), a package version the archive does not have (a failed pin), the command as a
non-root user, and bpg/proxmox uploading an image that changed after synthesis.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from pve_gpu_lxc import GpuContainer, HostFacts, NvidiaGpu, ProxmoxProvider, Template
from pve_gpu_lxc.engine import App, LocalBackend, TerraformStack
from pve_gpu_lxc.image import DebianNvidiaPackages, ImageBuildFailed, build
from pve_gpu_lxc_testing.e2e.harness import FACTS, CommandFailed, sim_env
from pve_gpu_lxc_testing.image import cache as image_cache
from pve_gpu_lxc_testing.image.images import BuiltImages, debian_packages_image

from .conftest import NVIDIA_PCI, REPO

pytestmark = pytest.mark.image

NOBODY = 65534


def refused_url() -> str:
    """An http:// URL on loopback where nothing listens (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/debian"


def test_a_failed_debootstrap_names_the_step_and_leaves_no_template(built_images: BuiltImages, tmp_path: Path) -> None:
    mirror = refused_url()
    out = tmp_path / "out"
    image = debian_packages_image(built_images.base)
    with pytest.raises(ImageBuildFailed) as err:
        build(image, out, source={"downloader": "debootstrap", "url": mirror, "variant": "minbase"}, quiet=True)
    message = str(err.value)
    assert message.startswith(
        "image build failed at step 'debootstrap (the definition's source)': debootstrap could not bootstrap the "
        f"release: E: Failed getting release file {mirror}/dists/bookworm/Release. Fix: check the source "
        "section's url"), message
    assert sorted(p.name for p in out.iterdir()) == [f"{image.name}.build.log", f"{image.name}.yaml"]


def test_the_base_bootstrap_failing_names_the_step_and_caches_nothing(image_machine: None, tmp_path: Path) -> None:
    mirror = refused_url()
    with pytest.raises(image_cache.ImageCacheError) as err:
        image_cache.ensure_base(image_cache.DebianBase(mirror=mirror), cache=tmp_path)
    message = str(err.value)
    assert message.startswith("step 'Debian base': `debootstrap --variant=minbase bookworm ")
    assert f"E: Failed getting release file {mirror}/dists/bookworm/Release" in message
    assert f"Fix: check that this machine reaches {mirror} (apt-get update), or point PVE_GPU_LXC_DEBIAN_MIRROR" \
           in message
    assert not list((tmp_path / "base").glob("*")) and not list((tmp_path / "tmp").iterdir())


def test_a_failed_package_pin_names_the_step_and_caches_nothing(built_images: BuiltImages, tmp_path: Path) -> None:
    base = built_images.base
    image = dataclasses.replace(debian_packages_image(base), userspace=DebianNvidiaPackages(version="535.261.03-99"))
    with pytest.raises(ImageBuildFailed) as err:
        image_cache.ensure_image(image, [base], cache=tmp_path)
    failure, log = err.value.failure, err.value.log_path
    assert failure.step == "NVIDIA packages: pinned install"
    assert failure.detail.startswith("apt-get cannot install libcuda1=535.261.03-99 libnvidia-ml1=535.261.03-99 "
                                     "nvidia-smi=535.261.03-99 from http://deb.debian.org/debian bookworm")
    assert failure.detail.endswith("The log says: E: Version '535.261.03-99' for 'libcuda1' was not found; E: Version "
                                   "'535.261.03-99' for 'libnvidia-ml1' was not found; E: Version '535.261.03-99' for "
                                   "'nvidia-smi' was not found.")
    assert "`apt-cache madison libcuda1 libnvidia-ml1 nvidia-smi`" in failure.fix
    assert log is not None and log.parent == tmp_path / "failed" and str(log) in str(err.value)
    assert "E: Version '535.261.03-99' for 'libcuda1' was not found" in log.read_text()
    assert not (tmp_path / "images").exists() and not list((tmp_path / "tmp").iterdir())


def nobody_reaches(*paths: Path) -> bool:
    """Whether the user nobody can get to these paths (a checkout under a private directory cannot)."""
    tests = " && ".join(f"test -r {p} -a -x {p.parent}" for p in paths)
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "sh", "-c", tests],
                          capture_output=True).returncode == 0


def test_not_root_is_refused_with_the_fix_and_the_command_to_run(built_images: BuiltImages,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`pve-gpu-lxc image build` as an ordinary user: nobody, through setpriv, when nobody can reach this
    checkout; else the same command in-process with nobody's euid."""
    cli = REPO / ".venv" / "bin" / "pve-gpu-lxc"
    with tempfile.TemporaryDirectory(prefix="pve-gpu-lxc-nonroot-") as work:
        Path(work).chmod(0o755)
        out = Path(work) / "out"
        out.mkdir()
        out.chmod(0o777)
        args = ["image", "build", "--driver", "535.261.03", "--debian-packages", "535.261.03-1", "--distribution",
                "debian", "--release", "bookworm", "--source-url", built_images.base.url, "--out-dir", str(out)]
        if nobody_reaches(cli, REPO / "constructs" / "pve_gpu_lxc" / "__init__.py"):
            proc = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", str(cli),
                                   *args], capture_output=True, text=True, timeout=120)
            code, stderr = proc.returncode, proc.stderr
        else:
            from pve_gpu_lxc import cli as pve_cli

            monkeypatch.setattr("os.geteuid", lambda: NOBODY)
            code, stderr = pve_cli.main(args), capsys.readouterr().err
        definition = out / "debian-bookworm-amd64-nvidia-535.261.03.yaml"
        assert code == 1, stderr
        assert stderr.startswith(
            "error: cannot build the image on this machine: distrobuilder must run as root (it unpacks a rootfs and "
            f"chroots into it); run the build with sudo. The definition is written to {definition}; build it on a "
            f"machine that has distrobuilder with: sudo distrobuilder build-lxc {definition} {out}"), stderr
        assert sorted(p.name for p in out.iterdir()) == [definition.name]  # the definition, no template


@pytest.mark.e2e
def test_an_image_changed_after_synth_never_reaches_the_nodes_storage(built_images: BuiltImages,
                                                                      tmp_path: Path) -> None:
    """bpg/proxmox checks the file against the checksum synthesized into the plan before it uploads."""
    image = built_images.fake_run.image
    local = tmp_path / image.template_file_name
    local.write_bytes(b"the image as built")
    env = sim_env(tmp_path / "node", facts=FACTS)
    try:
        app = App(outdir=str(tmp_path / "out"))
        stack = TerraformStack(app, "image")
        LocalBackend(stack, path=str(env.work_dir / "image.tfstate"))
        ProxmoxProvider(stack, "proxmox", environ=env.env)
        GpuContainer(stack, "gpu", node_name="pve", vm_id=330, hostname="changed", started=False,
                     template=Template.upload(local, image=image),  # sha256 computed now, at synth
                     gpus=[NvidiaGpu(pci=NVIDIA_PCI, driver_version=image.nvidia_driver)],
                     host_facts=HostFacts.load(FACTS))
        app.synth()
        local.write_bytes(b"the image rebuilt since")
        with pytest.raises(CommandFailed) as err:
            env.apply(tmp_path / "out" / "stacks" / "image")
        assert "does not match source checksum" in str(err.value)
        cache_dir = env.volume_path(f"local:vztmpl/{image.template_file_name}").parent
        assert list(cache_dir.iterdir()) == []  # nothing on the node's template storage
        assert list((env.work_dir / "sim-state" / "uploads").iterdir()) == []  # nor half an upload
        assert not env.conf_path(330).exists()
    finally:
        env.close()


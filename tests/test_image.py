"""image: distrobuilder definitions pinned to the host's NVIDIA driver version."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from pve_gpu_lxc import ValidationError
from pve_gpu_lxc.cli.main import main as cli_main
from pve_gpu_lxc.image import (
    BuildToolsMissing,
    ImageBuildFailed,
    NvidiaImage,
    build,
    check_build_tools,
    diagnose,
    linuxcontainers_rootfs_url,
)

ROOTFS = "https://images.linuxcontainers.org/images/ubuntu/noble/amd64/default/20250715_07:42/rootfs.tar.xz"
FACTS = Path(__file__).parents[1] / "stacks" / "facts" / "pve.json"


def main(argv: list[str]) -> int:
    """`pve-gpu-lxc image ARGV...` through the one command line."""
    return cli_main(["image", *argv])


def image(**overrides) -> NvidiaImage:
    return NvidiaImage(**{"nvidia_driver": "575.64.03", "source_url": ROOTFS, **overrides})


def test_definition_has_the_documented_sections_and_reloads():
    text = image().to_yaml()
    doc = yaml.safe_load(text)
    assert list(doc) == ["image", "source", "packages", "files", "actions"]
    assert doc["source"] == {"downloader": "rootfs-http", "url": ROOTFS}
    assert doc["packages"]["manager"] == "apt"
    assert doc["packages"]["sets"] == [{"packages": ["ca-certificates", "wget"], "action": "install"}]
    assert {f["generator"] for f in doc["files"]} == {"dump"}
    assert {a["trigger"] for a in doc["actions"]} == {"post-packages"}
    assert all(a["action"].startswith("#!/bin/sh\n") for a in doc["actions"])
    assert doc == image().definition()


def test_proxmox_resolv_conf_marker_is_dumped():
    files = {f["path"]: f for f in image().definition()["files"]}
    assert files["/etc/.pve-ignore.resolv.conf"] == {
        "generator": "dump", "path": "/etc/.pve-ignore.resolv.conf", "content": "", "mode": "0644",
        "uid": "0", "gid": "0"}


def test_driver_version_reaches_every_place_it_must():
    version = "570.148.08"
    img = image(nvidia_driver=version)
    doc = img.definition()
    assert doc["image"]["variant"] == f"nvidia-{version}"
    assert version in doc["image"]["name"] and version in doc["image"]["description"]
    assert img.template_file_name == f"ubuntu-noble-nvidia-{version}_amd64.tar.xz"
    script = doc["actions"][1]["action"]
    url = f"https://us.download.nvidia.com/XFree86/Linux-x86_64/{version}/NVIDIA-Linux-x86_64-{version}.run"
    assert f"wget -q -O /tmp/nvidia.run '{url}'" in script
    assert "sh /tmp/nvidia.run --no-kernel-modules --no-systemd -s" in script
    assert f"libnvidia-ml.so.{version}" in script
    marker = next(f for f in doc["files"] if f["path"] == "/etc/pve-gpu-lxc/nvidia-driver-version")
    assert marker["content"] == f"{version}\n"
    assert "575.64.03" not in img.to_yaml()  # no stale default anywhere


def test_arm64_uses_nvidias_aarch64_run_file():
    img = image(architecture="arm64")
    assert img.run_file_url.endswith("/Linux-aarch64/575.64.03/NVIDIA-Linux-aarch64-575.64.03.run")


@pytest.mark.parametrize("bad", ["575", "575.64.03'", "575.64.03 && curl evil|sh", "$(reboot)", "575.64.03\n", ""])
def test_bad_versions_are_rejected(bad):
    with pytest.raises(ValidationError, match="not a driver version"):
        image(nvidia_driver=bad)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"source_url": "ftp://x/rootfs.tar.xz"}, "not a rootfs URL"),
        ({"source_url": "https://x/a b.tar.xz"}, "not a rootfs URL"),
        ({"source_url": "file:///tmp/x'.tar.xz"}, "not a rootfs URL"),
        ({"source_url": ROOTFS + "\nwget evil"}, "not a rootfs URL"),
        ({"architecture": "riscv64"}, "no NVIDIA Linux driver"),
        ({"release": "Noble Numbat"}, "release 'Noble Numbat' is not allowed"),
        ({"packages": "wget"}, "packages must be a tuple"),
        ({"packages": ("wget; reboot",)}, "packages must be a tuple"),
        ({"render_gid": 0}, "render_gid must be an integer in 1..65535"),
        ({"render_gid": 44}, "both 44"),
        ({"run_file_sha256": "abc"}, "not a sha256"),
    ],
)
def test_bad_inputs_are_rejected(overrides, message):
    with pytest.raises(ValidationError, match=message):
        image(**overrides)


def test_checksum_is_verified_before_the_run_file_runs():
    digest = "a" * 64
    script = image(run_file_sha256=digest).nvidia_script()
    check = script.index(f"echo '{digest}  /tmp/nvidia.run' | sha256sum -c -")
    assert check < script.index("sh /tmp/nvidia.run")


def test_scripts_are_valid_sh():
    img = image()
    for script in (img.groups_script(), img.nvidia_script()):
        subprocess.run(["sh", "-n"], input=script, text=True, check=True)


def test_local_rootfs_and_linuxcontainers_urls():
    assert image(source_url="file:///var/tmp/rootfs.tar.xz").definition()["source"]["url"] == "file:///var/tmp/rootfs.tar.xz"
    assert linuxcontainers_rootfs_url("ubuntu", "noble", "amd64", "20250715_07:42") == ROOTFS
    with pytest.raises(ValidationError, match="YYYYMMDD_HH:MM"):
        linuxcontainers_rootfs_url("ubuntu", "noble", "amd64", "latest")


# --------------------------------------------------------------------------- the groups action, run for real


@pytest.fixture
def group_env(tmp_path):
    """Stub getent/groupadd/groupmod over a private group file, so the real script runs harmlessly."""
    group = tmp_path / "group"
    log = tmp_path / "log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {
        "getent": f'awk -F: -v k="$2" \'$1 == k || $3 == k {{ print; exit }}\' {group}',
        "groupadd": f'echo "groupadd $*" >> {log}; echo "$4:x:$3:" >> {group}',
        "groupmod": f'echo "groupmod $*" >> {log}; sed -i "s/^$3:x:[0-9]*:/$3:x:$2:/" {group}',
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)

    def run(initial: str, **overrides) -> tuple[subprocess.CompletedProcess, str, str]:
        group.write_text(initial)
        log.write_text("")
        result = subprocess.run(["sh", "-c", image(**overrides).groups_script()], capture_output=True, text=True,
                                env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
        return result, group.read_text(), log.read_text()

    return run


def test_groups_action_adds_missing_render_group(group_env):
    result, group, log = group_env("root:x:0:\nvideo:x:44:\n")
    assert result.returncode == 0, result.stderr
    assert "render:x:993:" in group and log == "groupadd --system --gid 993 render\n"


def test_groups_action_renumbers_an_existing_render_group(group_env):
    result, group, log = group_env("video:x:44:\nrender:x:992:\n")
    assert result.returncode == 0, result.stderr
    assert "render:x:993:" in group and log == "groupmod --gid 993 render\n"


def test_groups_action_refuses_a_gid_owned_by_another_group(group_env):
    result, _, log = group_env("video:x:44:\nrender:x:992:\n_ssh:x:104:\n", render_gid=104)
    assert result.returncode == 1
    assert result.stderr == ("pve-gpu-lxc build step failed: video/render groups: GID 104 is taken by group _ssh. "
                             "Fix: choose another render_gid (NvidiaImage(render_gid=...), pve-gpu-lxc image "
                             "--render-gid)\n")
    assert log == ""
    # the build reports this line as the failed step
    failure = diagnose(f"level=info msg=...\n{result.stderr}Error: Failed to run post-packages: exit status 1\n")
    assert (failure.step, failure.detail) == ("video/render groups", "GID 104 is taken by group _ssh.")
    assert failure.fix.startswith("choose another render_gid")


# --------------------------------------------------------------------------- building


def test_missing_distrobuilder_says_what_to_install_and_what_to_run(tmp_path):
    with pytest.raises(BuildToolsMissing) as err:
        check_build_tools(tmp_path / "def.yaml", tmp_path / "out", which=lambda _: None, euid=lambda: 0)
    message = str(err.value)
    assert "distrobuilder is not installed (not found on PATH)" in message
    assert "apt install distrobuilder" in message and "snap install distrobuilder --classic" in message
    assert f"sudo distrobuilder build-lxc {tmp_path / 'def.yaml'} {tmp_path / 'out'}" in message
    assert "must run as root" not in message


def test_non_root_is_reported_too(tmp_path):
    with pytest.raises(BuildToolsMissing, match="must run as root"):
        check_build_tools(tmp_path / "d.yaml", tmp_path, which=lambda _: "/usr/bin/distrobuilder", euid=lambda: 1000)


def fake_distrobuilder(calls: list, *, code: int = 0, output: str = "", files=("rootfs.tar.xz", "meta.tar.xz")):
    """A stand-in for `run`: records the command, writes the given files into its target, logs `output`."""
    def run(command, log_path):
        calls.append(command)
        log_path.write_text(output)
        for name in files:
            Path(command[3], name).write_bytes(name.encode())
        return code
    return run


def test_build_runs_distrobuilder_and_names_the_rootfs_after_the_driver(tmp_path):
    calls = []
    target = build(image(), tmp_path, run=fake_distrobuilder(calls), which=lambda _: "/usr/bin/distrobuilder",
                   euid=lambda: 0)
    definition = tmp_path / "ubuntu-noble-amd64-nvidia-575.64.03.yaml"
    (command,) = calls
    staging = Path(command[3])
    # a private staging directory inside out_dir, with its own cache (two builds never share one)
    assert command == ["distrobuilder", "build-lxc", str(definition), str(staging), "--cache-dir",
                       str(staging / "cache")]
    assert staging.parent == tmp_path and staging.name.startswith(".build-ubuntu-noble-amd64-nvidia-575.64.03-")
    assert yaml.safe_load(definition.read_text())["image"]["variant"] == "nvidia-575.64.03"
    assert target == tmp_path / "ubuntu-noble-nvidia-575.64.03_amd64.tar.xz" and target.read_bytes() == b"rootfs.tar.xz"
    assert (tmp_path / "meta.tar.xz").read_bytes() == b"meta.tar.xz"
    assert not staging.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "meta.tar.xz", "ubuntu-noble-amd64-nvidia-575.64.03.build.log", "ubuntu-noble-amd64-nvidia-575.64.03.yaml",
        "ubuntu-noble-nvidia-575.64.03_amd64.tar.xz"]


def test_cli_takes_the_version_from_the_facts(capsys):
    assert main(["definition", "--facts", str(FACTS), "--source-url", ROOTFS]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["image"]["variant"] == "nvidia-575.64.03"


def test_cli_refuses_a_driver_that_differs_from_the_facts(capsys):
    assert main(["definition", "--facts", str(FACTS), "--driver", "570.148.08", "--source-url", ROOTFS]) == 1
    assert "--driver 570.148.08 differs from the driver recorded in" in capsys.readouterr().err


def test_cli_build_without_distrobuilder_exits_2_with_the_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code = main(["build", "--driver", "575.64.03", "--source-url", ROOTFS, "--out-dir", str(tmp_path / "out")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot build the image on this machine: distrobuilder is not installed")
    assert (tmp_path / "out" / "ubuntu-noble-amd64-nvidia-575.64.03.yaml").exists()  # definition kept for elsewhere


# --------------------------------------------------------------------------- userspace sources

from pve_gpu_lxc.image.nvidia import APT_PIN_FILE, STAGED_RUN_FILE, DebianNvidiaPackages, NvidiaRunFile  # noqa: E402

DEBIAN = {"distribution": "debian", "release": "bookworm"}


def debian_image(**overrides) -> NvidiaImage:
    return image(**{"nvidia_driver": "535.261.03", **DEBIAN,
                    "userspace": DebianNvidiaPackages(version="535.261.03-1"), **overrides})


def test_default_userspace_is_nvidias_run_file_from_nvidias_server():
    img = image()
    assert img.userspace == NvidiaRunFile()
    assert img.run_file_url.startswith("https://us.download.nvidia.com/XFree86/Linux-x86_64/575.64.03/")


def test_run_file_from_a_mirror_and_its_checksum():
    digest = "b" * 64
    img = image(userspace=NvidiaRunFile(url="https://mirror.example/nvidia/NVIDIA-Linux-x86_64-575.64.03.run",
                                        sha256=digest))
    script = img.nvidia_script()
    assert "wget -q -O /tmp/nvidia.run 'https://mirror.example/nvidia/NVIDIA-Linux-x86_64-575.64.03.run'" in script
    assert f"echo '{digest}  /tmp/nvidia.run' | sha256sum -c -" in script
    assert {a["trigger"] for a in img.definition()["actions"]} == {"post-packages"}


def test_local_run_file_is_copied_in_and_installed_by_the_same_step():
    img = image(userspace=NvidiaRunFile(url="file:///srv/nvidia/NVIDIA-Linux-x86_64-575.64.03.run", sha256="c" * 64))
    doc = img.definition()
    copy = doc["files"][-1]
    assert copy == {"generator": "copy", "source": "/srv/nvidia/NVIDIA-Linux-x86_64-575.64.03.run",
                    "path": STAGED_RUN_FILE, "mode": "0700", "uid": "0", "gid": "0"}
    # the files section runs after the packages: the install step moves to post-files
    assert [a["trigger"] for a in doc["actions"]] == ["post-packages", "post-files"]
    script = doc["actions"][1]["action"]
    assert script.index(f"mv {STAGED_RUN_FILE} /tmp/nvidia.run") < script.index("sha256sum -c -")
    assert "wget" not in script
    assert "sh /tmp/nvidia.run --no-kernel-modules --no-systemd -s" in script
    same = image(run_file_sha256="c" * 64).nvidia_script()  # from NVIDIA's server: the same install step
    install = "if ! sh /tmp/nvidia.run"
    assert same[same.index(install):] == script[script.index(install):]


def test_library_check_does_not_need_every_candidate_directory():
    # `ls a b` fails when either is missing; Debian and Ubuntu have no /usr/lib64
    script = image().nvidia_script()
    assert "ls " not in script
    assert 'if [ -e "$library" ]; then found=$library; fi' in script


def test_run_file_sha256_given_twice_must_agree():
    assert image(run_file_sha256="a" * 64, userspace=NvidiaRunFile(sha256="a" * 64)).run_file_sha256_expected == "a" * 64
    with pytest.raises(ValidationError, match="run_file_sha256 'aaa.*' differs from userspace NvidiaRunFile sha256"):
        image(run_file_sha256="a" * 64, userspace=NvidiaRunFile(sha256="b" * 64))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: NvidiaRunFile(url="ftp://x/NVIDIA.run"), "NvidiaRunFile url 'ftp://x/NVIDIA.run' is not a run-file URL"),
        (lambda: NvidiaRunFile(url="file:///tmp/a b.run"), "is not a run-file URL"),
        (lambda: NvidiaRunFile(url="https://x/dir/"), "is not a run-file URL"),
        (lambda: NvidiaRunFile(sha256="xyz"), "NvidiaRunFile sha256 'xyz' is not a sha256"),
        (lambda: DebianNvidiaPackages(version="535.261.03"), "version '535.261.03' is not an exact Debian package"),
        (lambda: DebianNvidiaPackages(version="535.261.03-1; reboot"), "is not an exact Debian package version"),
        (lambda: DebianNvidiaPackages(version="535.261.03-1", packages="libcuda1"), "must be a non-empty tuple"),
        (lambda: DebianNvidiaPackages(version="535.261.03-1", packages=()), "must be a non-empty tuple"),
        (lambda: DebianNvidiaPackages(version="535.261.03-1", packages=("libcuda1=535.261.03-1", "libnvidia-ml1")),
         "without versions"),
        (lambda: DebianNvidiaPackages(version="535.261.03-1", packages=("libcuda1",)), "lack 'libnvidia-ml1'"),
        (lambda: DebianNvidiaPackages(version="535.261.03-1", source_package="Nvidia Drivers"),
         "source_package 'Nvidia Drivers' is not a Debian source package name"),
        (lambda: DebianNvidiaPackages(version="535.261.03-1", mirror="deb.debian.org"),
         "mirror 'deb.debian.org' is not an apt mirror URL"),
        (lambda: image(userspace="debian"), "userspace 'debian' is not allowed; use NvidiaRunFile"),
        (lambda: image(nvidia_driver="535.261.03", userspace=DebianNvidiaPackages(version="535.261.03-1")),
         "userspace DebianNvidiaPackages needs distribution 'debian'.*got distribution 'ubuntu'"),
        (lambda: debian_image(nvidia_driver="575.64.03"),
         "version '535.261.03-1' carries driver 535.261.03, not nvidia_driver 575.64.03"),
        (lambda: debian_image(run_file_sha256="a" * 64), "userspace is DebianNvidiaPackages"),
    ],
)
def test_bad_userspace_is_rejected_naming_field_and_value(make, message):
    with pytest.raises(ValidationError, match=message):
        make()


def test_debian_packages_come_pinned_from_non_free():
    img = debian_image()
    doc = img.definition()
    assert doc["packages"]["repositories"] == [{
        "name": "pve-gpu-lxc-nvidia-non-free",
        "url": "deb http://deb.debian.org/debian bookworm contrib non-free non-free-firmware\n"
               "deb http://deb.debian.org/debian bookworm-updates contrib non-free non-free-firmware\n"
               "deb http://deb.debian.org/debian-security bookworm-security contrib non-free non-free-firmware\n",
    }]
    assert doc["packages"]["sets"] == [{"packages": ["ca-certificates", "wget"], "action": "install"}]
    script = doc["actions"][1]["action"]
    pin = script.index(f"'Package: src:nvidia-graphics-drivers' 'Pin: version 535.261.03-1' 'Pin-Priority: 1001' "
                       f"> {APT_PIN_FILE}")
    install = script.index("apt-get install -y -q --no-install-recommends "
                           "libcuda1=535.261.03-1 libnvidia-ml1=535.261.03-1 nvidia-smi=535.261.03-1")
    assert pin < install < script.index("dpkg-query -W -f='${Version}' \"$package\"")
    assert "/usr/lib/*/nvidia/current/libnvidia-ml.so.535.261.03" in script
    assert "wget" not in script and "nvidia.run" not in script
    assert not [f for f in doc["files"] if f["generator"] == "copy"]
    assert "Debian packages 535.261.03-1" in doc["image"]["description"]
    assert img.template_file_name == "debian-bookworm-nvidia-535.261.03_amd64.tar.xz"
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)


def test_debian_packages_options():
    userspace = DebianNvidiaPackages(version="1:535.261.03-1+b1", packages=("libnvidia-ml1",), security_mirror=None,
                                     mirror="http://ftp.de.debian.org/debian", source_package="nvidia-graphics-drivers-tesla")
    assert userspace.driver_version == "535.261.03"
    doc = debian_image(userspace=userspace).definition()
    assert doc["packages"]["repositories"][0]["url"].splitlines() == [
        "deb http://ftp.de.debian.org/debian bookworm contrib non-free non-free-firmware",
        "deb http://ftp.de.debian.org/debian bookworm-updates contrib non-free non-free-firmware",
    ]
    assert "'Package: src:nvidia-graphics-drivers-tesla'" in doc["actions"][1]["action"]


def test_source_override_replaces_only_the_source_section():
    debootstrap = {"downloader": "debootstrap", "url": "http://deb.debian.org/debian", "variant": "minbase",
                   "components": ["main", "contrib"]}
    stock, overridden = debian_image().definition(), debian_image().definition(source=debootstrap)
    assert overridden["source"] == debootstrap
    assert {k: v for k, v in overridden.items() if k != "source"} == {k: v for k, v in stock.items() if k != "source"}
    assert yaml.safe_load(debian_image().to_yaml(debootstrap))["source"] == debootstrap


@pytest.mark.parametrize("source", [{"url": "http://x"}, {"downloader": "debootstrap", "url": "http://x/ {{ a }}"},
                                    {"downloader": "debootstrap", "Bad Key": "x"}, "debootstrap"])
def test_bad_source_overrides_are_rejected(source):
    with pytest.raises(ValidationError, match="source"):
        image().definition(source=source)


def test_build_with_a_given_distrobuilder_source_and_arguments(tmp_path):
    calls = []
    source = {"downloader": "debootstrap", "url": "http://deb.debian.org/debian"}
    target = build(debian_image(), tmp_path, run=fake_distrobuilder(calls, files=("rootfs.tar.xz",)),
                   which=lambda p: p, euid=lambda: 0, source=source, distrobuilder="/opt/db/distrobuilder",
                   build_args=["--compression", "xz-0"])
    definition = tmp_path / "debian-bookworm-amd64-nvidia-535.261.03.yaml"
    staging = calls[0][3]
    assert calls == [["/opt/db/distrobuilder", "build-lxc", str(definition), staging, "--cache-dir",
                      f"{staging}/cache", "--compression", "xz-0"]]
    assert yaml.safe_load(definition.read_text())["source"] == source
    assert target.name == "debian-bookworm-nvidia-535.261.03_amd64.tar.xz"


def test_build_refuses_a_local_run_file_that_is_not_there(tmp_path):
    img = image(userspace=NvidiaRunFile(url=f"file://{tmp_path}/NVIDIA-Linux-x86_64-575.64.03.run"))
    with pytest.raises(ValidationError, match=r"run file .*NVIDIA-Linux-x86_64-575.64.03.run .* does not exist"):
        build(img, tmp_path / "out", run=lambda *a, **k: None, which=lambda p: p, euid=lambda: 0)


def test_missing_distrobuilder_at_a_given_path_is_named(tmp_path):
    with pytest.raises(BuildToolsMissing, match="/opt/db/distrobuilder is not an executable"):
        check_build_tools(tmp_path / "d.yaml", tmp_path, which=lambda _: None, euid=lambda: 0,
                          distrobuilder="/opt/db/distrobuilder")


def test_cli_debian_packages_and_run_file_url(capsys):
    assert main(["definition", "--driver", "535.261.03", "--debian-packages", "535.261.03-1", "--distribution",
                 "debian", "--release", "bookworm", "--source-url", ROOTFS]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert "libcuda1=535.261.03-1" in doc["actions"][1]["action"]
    assert main(["definition", "--driver", "575.64.03", "--run-file-url", "file:///srv/NVIDIA-Linux-x86_64-575.64.03.run",
                 "--source-url", ROOTFS]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["files"][-1]["source"] == "/srv/NVIDIA-Linux-x86_64-575.64.03.run"
    assert main(["definition", "--driver", "535.261.03", "--debian-packages", "535.261.03-1", "--run-file-sha256",
                 "a" * 64, "--distribution", "debian", "--source-url", ROOTFS]) == 1
    assert "--debian-packages installs no run file" in capsys.readouterr().err


# --------------------------------------------------------------------------- build failures: the step and its fix

# distrobuilder 3.2's own output (build-lxc), recorded on this machine
DEBOOTSTRAP_FAILED = '''\
time="2026-12-07T04:24:39Z" level=info msg="Downloading source"
I: Retrieving InRelease 
I: Retrieving Release 
E: Failed getting release file http://127.0.0.1:9/debian/dists/bookworm/Release
Error: Error while downloading source: Failed to run "debootstrap": exit status 1
time="2026-12-07T04:24:39Z" level=error msg="Failed running distrobuilder" err="Error while downloading source: \
Failed to run \\"debootstrap\\": exit status 1"
time="2026-12-07T04:24:39Z" level=info msg="Removing cache directory"
'''
PIN_FAILED = '''\
time="2026-12-07T04:24:41Z" level=info msg="Running hooks" trigger=post-packages
E: Version '535.261.03-99' for 'libcuda1' was not found
E: Version '535.261.03-99' for 'libnvidia-ml1' was not found
E: Version '535.261.03-99' for 'nvidia-smi' was not found
pve-gpu-lxc build step failed: NVIDIA packages: pinned install: apt-get cannot install libcuda1=535.261.03-99 \
from the mirror. Fix: pin a version the archive has
Error: Failed to run post-packages: exit status 1
time="2026-12-07T04:24:46Z" level=error msg="Failed running distrobuilder" err="Failed to run post-packages: exit status 1"
'''


def test_a_failed_debootstrap_is_named_with_its_own_error_and_the_fix():
    failure = diagnose(DEBOOTSTRAP_FAILED)
    assert failure.step == "debootstrap (the definition's source)"
    assert "E: Failed getting release file http://127.0.0.1:9/debian/dists/bookworm/Release" in failure.detail
    assert "a Debian mirror that has the release" in failure.fix and "apt-get update" in failure.fix


def test_a_failed_package_pin_is_named_by_the_action_scripts_own_line():
    failure = diagnose(PIN_FAILED)
    assert failure == diagnose(PIN_FAILED, debian_image())
    assert failure.step == "NVIDIA packages: pinned install"
    # the script's own words, then apt's E: lines (the last three) as evidence
    assert failure.detail == (
        "apt-get cannot install libcuda1=535.261.03-99 from the mirror. The log says: E: Version '535.261.03-99' "
        "for 'libcuda1' was not found; E: Version '535.261.03-99' for 'libnvidia-ml1' was not found; E: Version "
        "'535.261.03-99' for 'nvidia-smi' was not found.")
    assert failure.fix == "pin a version the archive has"


@pytest.mark.parametrize(("log", "step", "words"), [
    ('Error: Error while downloading source: Failed to unpack "/x/rootfs.tar.xz": exit status 2\n', "source rootfs",
     "tarball that exists"),
    ('Error: Failed to manage packages: Failed to install packages: exit status 100\nE: Unable to locate package wgte\n',
     "packages", "package names"),
    ("Error: Failed to run post-files: exit status 2\n", "post-files action", "action's output"),
    ('Error: Failed to compress tarball "/x/rootfs.tar": exit status 1\n', "pack", "free space"),
    ("", "distrobuilder", "output in the log"),
])
def test_distrobuilders_own_errors_are_named_by_step(log, step, words):
    failure = diagnose(log, image(source_url="file:///x/rootfs.tar.xz"))
    assert failure.step == step
    assert words in failure.fix or words in failure.detail


def test_a_failed_build_leaves_no_template_and_no_staging_but_the_log(tmp_path):
    calls = []
    with pytest.raises(ImageBuildFailed) as err:
        build(debian_image(), tmp_path, run=fake_distrobuilder(calls, code=1, output=PIN_FAILED),
              which=lambda p: p, euid=lambda: 0)
    log = tmp_path / "debian-bookworm-amd64-nvidia-535.261.03.build.log"
    assert str(err.value) == (
        "image build failed at step 'NVIDIA packages: pinned install': apt-get cannot install libcuda1=535.261.03-99 "
        "from the mirror. The log says: E: Version '535.261.03-99' for 'libcuda1' was not found; E: Version "
        "'535.261.03-99' for 'libnvidia-ml1' was not found; E: Version '535.261.03-99' for 'nvidia-smi' was not "
        f"found. Fix: pin a version the archive has. Full log: {log}.")
    assert err.value.exit_code == 1 and log.read_text() == PIN_FAILED
    # the fake wrote rootfs.tar.xz into the staging directory: none of it survives
    assert sorted(p.name for p in tmp_path.iterdir()) == [log.name, "debian-bookworm-amd64-nvidia-535.261.03.yaml"]


def test_a_build_without_an_xz_rootfs_is_a_pack_failure_and_leaves_nothing(tmp_path):
    with pytest.raises(ImageBuildFailed, match=r"step 'pack': distrobuilder finished but wrote no rootfs.tar.xz "
                                               r"\(it wrote: rootfs.tar.zst\).* --compression xz-<level>"):
        build(image(), tmp_path, run=fake_distrobuilder([], files=("rootfs.tar.zst",)), which=lambda p: p,
              euid=lambda: 0, build_args=["--compression", "zstd"])
    assert not list(tmp_path.glob("*.tar.*")) and not list(tmp_path.glob(".build-*"))


def test_an_interrupted_build_leaves_no_template(tmp_path):
    def interrupted(command, log_path):
        Path(command[3], "rootfs.tar.xz").write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build(image(), tmp_path, run=interrupted, which=lambda p: p, euid=lambda: 0)
    assert not list(tmp_path.glob("*.tar.*")) and not list(tmp_path.glob(".build-*"))


def test_a_missing_local_rootfs_is_refused_before_distrobuilder_runs(tmp_path):
    calls = []
    with pytest.raises(ValidationError, match=r"source_url file:///nowhere/rootfs.tar.xz: /nowhere/rootfs.tar.xz does "
                                              r"not exist on this machine"):
        build(image(source_url="file:///nowhere/rootfs.tar.xz"), tmp_path, run=fake_distrobuilder(calls),
              which=lambda p: p, euid=lambda: 0)
    assert calls == []


def test_staging_with_a_mount_left_inside_is_not_removed(tmp_path, capsys):
    from pve_gpu_lxc.image.build import remove_staging

    staging = tmp_path / ".build-x"
    (staging / "cache" / "rootfs" / "dev").mkdir(parents=True)
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"1 2 0:5 / {staging}/cache/rootfs/dev rw - tmpfs none rw\n")
    remove_staging(staging, mountinfo)
    assert staging.exists() and "still has mounts" in capsys.readouterr().err
    mountinfo.write_text("1 2 0:5 / /proc rw - proc proc rw\n")
    remove_staging(staging, mountinfo)
    assert not staging.exists()


def test_cli_build_reports_the_failed_step_and_exits_1(tmp_path, capsys, monkeypatch):
    """The command as a user runs it, with a distrobuilder on PATH that fails like a failed debootstrap."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "distrobuilder"
    fake.write_text("#!/bin/sh\ncat <<'LOG'\n" + DEBOOTSTRAP_FAILED + "LOG\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr("os.geteuid", lambda: 0)
    out = tmp_path / "out"
    code = main(["build", "--driver", "575.64.03", "--source-url", ROOTFS, "--out-dir", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(
        "error: image build failed at step 'debootstrap (the definition's source)': debootstrap could not "
        "bootstrap the release: E: Failed getting release file")
    assert f"Full log: {out}/ubuntu-noble-amd64-nvidia-575.64.03.build.log." in err
    assert sorted(p.name for p in out.iterdir()) == ["ubuntu-noble-amd64-nvidia-575.64.03.build.log",
                                                    "ubuntu-noble-amd64-nvidia-575.64.03.yaml"]

"""facts.boot: the node's boot configuration replayed, and what it makes before pve-guests (pure)."""

from __future__ import annotations

import pytest

from pve_gpu_lxc.facts.boot import (
    BootFacts,
    BootFile,
    command_effect,
    modules_loaded,
    nodes_at_boot,
    udev_rules,
    units,
)

UNIT = "/etc/systemd/system/gpu-nodes.service"
LINK = "/etc/systemd/system/multi-user.target.wants/gpu-nodes.service"
ALL4 = {"/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"}


def unit(*exec_start: str, before: str = "pve-guests.service", extra: str = "") -> BootFile:
    lines = "".join(f"ExecStart={e}\n" for e in exec_start)
    return BootFile(UNIT, f"[Unit]\nBefore={before}\n{extra}\n[Service]\nType=oneshot\n{lines}\n"
                          "[Install]\nWantedBy=multi-user.target\n")


def booted(*files: BootFile, enabled: bool = True, driver: bool = True, minors: tuple[int, ...] = (0,)) -> set[str]:
    boot = BootFacts(files, ((LINK, UNIT),) if enabled else ())
    return set(nodes_at_boot(boot, driver_installed=driver, gpu_minors=minors).created)


# --------------------------------------------------------------------------- nvidia-modprobe, as NVIDIA's source says


@pytest.mark.parametrize(("argv", "loads", "creates"), [
    # -c N: /dev/nvidiaN; 255 is nvidiactl (assign_device_file_name)
    (["nvidia-modprobe", "-c", "0"], ("nvidia",), ("/dev/nvidia0",)),
    (["/usr/bin/nvidia-modprobe", "-c0", "-c255"], ("nvidia",), ("/dev/nvidia0", "/dev/nvidiactl")),
    (["nvidia-modprobe", "--create-nvidia-device-file=1"], ("nvidia",), ("/dev/nvidia1",)),
    # -u: the -c minors are UVM minors: base and base+1 (nvidia_uvm_mknod)
    (["nvidia-modprobe", "-u", "-c", "0"], ("nvidia", "nvidia_uvm"), ("/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")),
    (["nvidia-modprobe", "-c0", "-u"], ("nvidia", "nvidia_uvm"), ("/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")),
    # -u alone loads the module and makes nothing (the old hook's mistake: `-u -c0` made no /dev/nvidia0)
    (["nvidia-modprobe", "-u"], ("nvidia", "nvidia_uvm"), ()),
    (["nvidia-modprobe", "-m"], ("nvidia", "nvidia_modeset"), ("/dev/nvidia-modeset",)),
    (["nvidia-modprobe", "-f", "/proc/driver/nvidia/capabilities/mig/config"], ("nvidia",),
     ("/dev/nvidia-caps/nvidia-cap1",)),
    (["nvidia-modprobe", "-f", "/proc/driver/nvidia/capabilities/gpu0/mig/gi1/access"], ("nvidia",), ()),
    # nvidia-smi as root: nvidiactl and every GPU's node
    (["/usr/bin/nvidia-smi", "-L"], ("nvidia",), ("/dev/nvidiactl", "/dev/nvidia0", "/dev/nvidia1")),
    (["modprobe", "nvidia-uvm"], ("nvidia_uvm",), ()),
    (["mknod", "-m", "666", "/dev/nvidia-uvm", "c", "511", "0"], (), ("/dev/nvidia-uvm",)),
    (["chmod", "666", "/dev/nvidia0"], (), ()),
])
def test_what_a_program_makes(argv: list[str], loads: tuple[str, ...], creates: tuple[str, ...]) -> None:
    effect = command_effect(argv, gpu_minors=[0, 1])
    assert (effect.loads, effect.creates) == (loads, creates)


# --------------------------------------------------------------------------- the files


def test_modules_load_files_and_etc_modules() -> None:
    boot = BootFacts((BootFile("/etc/modules", "# comment\nvfio\n"),
                      BootFile("/etc/modules-load.d/nvidia.conf", "; also a comment\nnvidia\nnvidia-uvm  \n"),
                      BootFile("/etc/modprobe.d/nvidia.conf", "options nvidia NVreg_X=1\n")))
    assert modules_loaded(boot) == ("vfio", "nvidia", "nvidia_uvm")


def test_unit_keys_with_resets_continuations_and_the_etc_override() -> None:
    text = ("[Unit]\nBefore=network.target\nBefore=\nBefore=pve-guests.service \\\n  other.service\n"
            "[Service]\nExecStart=/bin/false\nExecStart=\nExecStart=-/usr/bin/nvidia-modprobe -c 0\n")
    boot = BootFacts((BootFile("/usr/lib/systemd/system/gpu-nodes.service", "[Service]\nExecStart=/bin/true\n"),
                      BootFile(UNIT, text)), ((LINK, UNIT),))
    (found,) = units(boot)
    assert found.path == UNIT and found.before == ("pve-guests.service", "other.service")
    assert found.exec_start == ("-/usr/bin/nvidia-modprobe -c 0",)
    assert found.enabled_by == ("multi-user.target",) and found.starts_at_boot and found.before_pve_guests


def test_udev_rules_that_run_on_a_module_load() -> None:
    text = ('# comment\n'
            'KERNEL=="nvidia", RUN+="/usr/bin/nvidia-smi -L"\n'
            'ACTION=="add", KERNEL=="nvidia_uvm", RUN+="/bin/sh -c \'nvidia-modprobe -c0 -u\'"\n'
            'ACTION=="remove", KERNEL=="nvidia", RUN+="/bin/rm -f /dev/nvidia0"\n'
            'SUBSYSTEM=="pci", KERNEL=="nvidia", RUN+="/bin/true"\n')
    rules = udev_rules(BootFacts((BootFile("/etc/udev/rules.d/70-nvidia.rules", text),)))
    assert [(r.kernel, r.run) for r in rules] == [
        ("nvidia", ("/usr/bin/nvidia-smi -L",)), ("nvidia_uvm", ("/bin/sh -c 'nvidia-modprobe -c0 -u'",))]


# --------------------------------------------------------------------------- the boot, replayed


def test_host_setups_unit_makes_all_four() -> None:
    modules = BootFile("/etc/modules-load.d/x.conf", "nvidia\nnvidia_uvm\n")
    made = booted(modules, unit("/usr/bin/nvidia-modprobe -c 0 -c 255", "/usr/bin/nvidia-modprobe -u -c 0"))
    assert made == ALL4


def test_a_unit_not_ordered_before_pve_guests_does_not_count() -> None:
    assert booted(unit("/usr/bin/nvidia-smi", before="multi-user.target")) == set()


@pytest.mark.parametrize("before", ["basic.target", "sysinit.target"])
def test_before_the_targets_pve_guests_comes_after_counts(before: str) -> None:
    assert booted(unit("/usr/bin/nvidia-smi", before=before)) == {"/dev/nvidiactl", "/dev/nvidia0"}


def test_a_unit_not_enabled_does_not_run() -> None:
    assert booted(unit("/usr/bin/nvidia-smi"), enabled=False) == set()


def test_a_unit_enabled_for_pve_guests_itself_runs() -> None:
    boot = BootFacts((unit("/usr/bin/nvidia-smi"),),
                     (("/etc/systemd/system/pve-guests.service.wants/gpu-nodes.service", UNIT),))
    assert set(nodes_at_boot(boot, driver_installed=True, gpu_minors=[0]).created) == {"/dev/nvidiactl", "/dev/nvidia0"}


def test_the_guide_udev_rules_make_all_four_once_the_modules_load() -> None:
    modules = BootFile("/etc/modules-load.d/nvidia.conf", "nvidia\nnvidia_uvm\n")
    rules = BootFile("/etc/udev/rules.d/70-nvidia.rules",
                     'KERNEL=="nvidia", RUN+="/bin/bash -c \'/usr/bin/nvidia-smi -L && /bin/chmod 666 /dev/nvidia*\'"\n'
                     'KERNEL=="nvidia_uvm", RUN+="/bin/bash -c \'/usr/bin/nvidia-modprobe -c0 -u && /bin/chmod 0666 '
                     '/dev/nvidia-uvm*\'"\n')
    assert booted(modules, rules) == ALL4
    # without the modules-load entry nvidia_uvm never loads at boot, so its rule never fires
    assert booted(rules) == {"/dev/nvidiactl", "/dev/nvidia0"}


def test_a_program_that_loads_a_module_fires_its_udev_rule() -> None:
    rules = BootFile("/etc/udev/rules.d/70-nvidia.rules", 'KERNEL=="nvidia_uvm", RUN+="/usr/bin/nvidia-modprobe -u -c 0"\n')
    assert booted(rules, unit("/sbin/modprobe nvidia_uvm")) == {"/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"}


def test_without_the_driver_nothing_is_made() -> None:
    assert booted(unit("/usr/bin/nvidia-modprobe -c 0 -c 255"), driver=False) == set()


def test_what_made_each_node_is_named() -> None:
    boot = BootFacts((unit("/usr/bin/nvidia-modprobe -c 0 -c 255"),), ((LINK, UNIT),))
    made = nodes_at_boot(boot, driver_installed=True, gpu_minors=[0])
    assert made.created["/dev/nvidiactl"] == "gpu-nodes.service: /usr/bin/nvidia-modprobe -c 0 -c 255"
    assert "/dev/nvidiactl" in made and "/dev/nvidia-uvm" not in made
    assert made.loaded == ("nvidia",)


def test_an_unparsable_command_makes_nothing() -> None:
    assert booted(unit("/usr/bin/nvidia-modprobe -c 'unterminated")) == set()

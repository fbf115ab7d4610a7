"""hostfacts: parsers on recorded real outputs, the facts model, GPU selection and checks."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from pve_gpu_lxc import ValidationError
from pve_gpu_lxc.facts import (
    HostFacts,
    IdRange,
    normalize_pci,
    parse_ls,
    parse_nvidia_information,
    parse_nvidia_version,
    parse_proc_devices,
    parse_subid,
)
from pve_gpu_lxc.core.rules import driver_version as validate_driver_version

DATA = Path(__file__).parent / "data" / "hostfacts"
FACTS = Path(__file__).parents[1] / "stacks" / "facts" / "pve.json"


def recorded(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def by_path(nodes) -> dict:
    return {n.path: n for n in nodes}


# --------------------------------------------------------------------------- ls -l parser


def test_seed_listing_gives_card_and_render_with_groups():
    nodes = by_path(parse_ls(recorded("seed-blackbox-ls-dri.txt")))  # base from the pasted prompt line
    assert set(nodes) == {"/dev/dri/by-path", "/dev/dri/card0", "/dev/dri/renderD128"}
    card, render = nodes["/dev/dri/card0"], nodes["/dev/dri/renderD128"]
    assert (card.type, card.major, card.minor, card.group, card.mode) == ("c", 226, 0, "video", 0o660)
    assert (render.type, render.major, render.minor, render.group) == ("c", 226, 128, "render")
    assert nodes["/dev/dri/by-path"].type == "d"


def test_broken_render_node_is_a_regular_file_and_fails_the_char_check():
    facts = HostFacts.from_listings("pve", ls=[recorded("tteck-proxmox-3758-ls-dri.txt")])
    assert facts.node("/dev/dri/renderD128").type == "f"
    with pytest.raises(ValidationError, match=r"/dev/dri/renderD128 is a regular file, not a char device"):
        facts.require_char_device("/dev/dri/renderD128")
    assert facts.require_char_device("/dev/dri/card0").minor == 0


def test_italian_locale_dates_acl_flag_and_dot_entries():
    nodes = by_path(parse_ls(recorded("lxd-3950-ls-dri-italian.txt")))
    assert set(nodes) == {"/dev/dri/by-path", "/dev/dri/card0"}  # '.' and '..' dropped
    assert nodes["/dev/dri/card0"].mode == 0o666 and nodes["/dev/dri/card0"].major == 226


def test_absolute_names_from_a_glob_listing_keep_dynamic_majors():
    nodes = by_path(parse_ls(recorded("nvct-50-ls-nv.txt")))
    assert nodes["/dev/nvidia-uvm"].major == 234 and nodes["/dev/nvidia-uvm-tools"].minor == 1
    assert nodes["/dev/nvidiactl"].minor == 255 and nodes["/dev/nvram"].major == 10


def test_relative_names_need_a_base_directory():
    text = recorded("negativo17-29-ls-nvidia-selinux.txt")
    with pytest.raises(ValidationError, match=r"relative name; pass base='/dev/dri'"):
        parse_ls(text)
    nodes = by_path(parse_ls(text, base="/dev"))
    assert nodes["/dev/nvidia-uvm"].major == 239 and nodes["/dev/nvidia0"].type == "c"


def test_busybox_listing_and_nvidia_caps_directory_header():
    busybox = by_path(parse_ls(recorded("eve-6387-busybox-ls.txt")))
    assert busybox["/dev/nvidia-uvm"].major == 487 and busybox["/dev/nvidia-modeset"].minor == 254
    caps = by_path(parse_ls(recorded("dra-driver-304-ls-nvidia-caps.txt")))
    assert caps["/dev/nvidia-caps/nvidia-cap4323"].minor == 4323
    assert caps["/dev/nvidia-caps/nvidia-cap1"].mode == 0o400


def test_multi_gpu_by_path_listing_maps_addresses_to_independent_indexes():
    facts = HostFacts.from_listings("gpu-box", ls=[recorded("gst-wayland-display-22-by-path.txt")])
    gpus = {g.pci: g for g in facts.gpus()}
    assert gpus["0000:61:00.0"].card == "/dev/dri/card1" and gpus["0000:61:00.0"].render == "/dev/dri/renderD128"
    assert gpus["0000:01:00.0"].render == "/dev/dri/renderD131"
    assert gpus["0000:63:00.0"].render is None  # a card without a render node (BMC)
    assert facts.devices == ()  # the links are mapping facts, not device nodes


def test_unreadable_entry_line_is_an_error_not_a_silent_drop():
    with pytest.raises(ValidationError, match="cannot read this ls line"):
        parse_ls("crw-rw---- 1 root video 226,\n", base="/dev/dri")


def test_mode_bits_include_special_bits():
    (node,) = parse_ls("drwxrwsr-T 2 root render 80 May 12 21:54 x\n", base="/dev")
    assert node.mode == stat.S_ISGID | stat.S_ISVTX | 0o774


@pytest.mark.parametrize("options", [["-l"], ["-ln"], ["-la", "--time-style=full-iso"], ["-l", "--time-style=long-iso"]])
def test_this_machines_dev_listing_matches_os_stat(options):
    """GNU ls on this machine, in several styles, parsed and compared with os.stat."""
    text = subprocess.run(["ls", *options, "/dev"], capture_output=True, text=True, check=True,
                          env={**os.environ, "LC_ALL": "C"}).stdout
    nodes = [n for n in parse_ls(text, base="/dev") if n.type in ("c", "b")]
    assert len(nodes) >= 3  # null, zero, full at least
    for node in nodes:
        st = os.lstat(node.path)
        assert (node.major, node.minor) == (os.major(st.st_rdev), os.minor(st.st_rdev)), node.path
        assert node.mode == stat.S_IMODE(st.st_mode), node.path
        if "-ln" in options:
            assert (node.uid, node.gid) == (st.st_uid, st.st_gid)


# --------------------------------------------------------------------------- /proc files


def test_proc_devices_of_an_hpc_node_with_pre_550_names():
    devices = parse_proc_devices(recorded("gdrcopy-115-proc-devices.txt"))
    assert devices.char_major("nvidia-frontend") == 195
    assert devices.char_major("nvidia-uvm") == 227
    assert devices.char_major("drm") == 226
    assert devices.char_major("nvidia-caps") is None
    assert [m for m, n in devices.char if n == "infiniband_cm"] == [230, 231]  # names repeat


def test_elided_proc_devices_excerpt_distinguishes_caps_from_imex_channels():
    devices = parse_proc_devices(recorded("dra-driver-304-proc-devices.txt"))
    assert devices.char_major("nvidia-caps") == 511
    assert devices.char_major("nvidia-caps-imex-channels") == 234


def test_this_machines_proc_devices():
    text = Path("/proc/devices").read_text()
    devices = parse_proc_devices(text)
    assert devices.char_major("mem") == 1  # fixed by the kernel (Documentation/admin-guide/devices.txt)
    listed = [line.split(None, 1) for line in text.splitlines() if line[:4].strip().isdigit()]
    assert len(devices.char) + len(devices.block) == len(listed)


def test_proc_devices_without_sections_is_rejected():
    with pytest.raises(ValidationError, match="Character devices"):
        parse_proc_devices("195 nvidia\n")


@pytest.mark.parametrize(
    ("name", "version", "flavor"),
    [
        ("neofetch-876-nvidia-version-proprietary.txt", "384.98", "proprietary"),
        ("nixgl-186-nvidia-version-open.txt", "565.57.01", "open"),
        ("nixgl-121-nvidia-version-open.txt", "525.60.11", "open"),
        ("hyprland-6715-nvidia-version-two-part.txt", "555.58", "open"),
    ],
)
def test_nvidia_version_file_formats(name, version, flavor):
    parsed = parse_nvidia_version(recorded(name))
    assert (parsed.version, parsed.flavor, parsed.arch) == (version, flavor, "x86_64")


def test_nvidia_version_of_the_example_host_in_both_formats():
    proprietary = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  575.64.03  Wed Jun 25 18:40:52 UTC 2025\n"
    open_module = ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  575.64.03  Release Build  "
                   "(dvs-builder@U22-I3-AE18-23-3)  Wed Jun 25 18:40:52 UTC 2025\n")
    assert parse_nvidia_version(proprietary).version == parse_nvidia_version(open_module).version == "575.64.03"


def test_unreadable_nvidia_version_text_names_the_expected_format():
    with pytest.raises(ValidationError, match=r"cannot find the driver version .*'NVRM: loading'"):
        parse_nvidia_version("NVRM: loading\n")


@pytest.mark.parametrize("bad", ["575", "575.64.03a", "575.64.03; rm -rf /", " 575.64.03", "575..64", "", None, 575.64])
def test_driver_version_is_strict(bad):
    with pytest.raises(ValidationError, match="not a driver version"):
        validate_driver_version(bad)


def test_old_information_file_without_device_minor():
    info = parse_nvidia_information(recorded("lxd-3950-nvidia-information.txt"))
    assert (info.pci, info.device_minor, info.model) == ("0000:04:00.0", None, "GeForce GTX 650")


@pytest.mark.parametrize(
    ("given", "normal"),
    [("0000:00:02.0", "0000:00:02.0"), ("00:02.0", "0000:00:02.0"), ("00000000:01:00.0", "0000:01:00.0"),
     ("0000:C1:00.0", "0000:c1:00.0")],
)
def test_pci_addresses_are_normalized(given, normal):
    assert normalize_pci(given) == normal


@pytest.mark.parametrize("bad", ["01:00", "0000:01:00.8", "pci-0000:01:00.0", "0000:01:20.0", 1])
def test_bad_pci_addresses_are_rejected(bad):
    with pytest.raises(ValidationError, match="PCI address"):
        normalize_pci(bad)


def test_subid_parsing_keeps_only_roots_numeric_lines():
    text = "root:100000:65536\nlxd:1000000:65536\nroot:44:1\n0:108:1\nroot:bad:1\n"
    assert parse_subid(text) == (IdRange(100000, 65536), IdRange(44, 1), IdRange(108, 1))


# --------------------------------------------------------------------------- the committed facts


@pytest.fixture(scope="module")
def pve() -> HostFacts:
    return HostFacts.load(FACTS)


def test_example_node_facts_resolve_both_gpus(pve):
    intel = pve.select_gpu("intel", pci="0000:00:02.0")
    assert (intel.card, intel.render, intel.vendor_id, intel.device_id) == (
        "/dev/dri/card0", "/dev/dri/renderD128", 0x8086, 0x3E92)
    nvidia = pve.select_gpu("nvidia", pci="01:00.0")
    assert (nvidia.nvidia_node, nvidia.render, nvidia.model) == (
        "/dev/nvidia0", "/dev/dri/renderD129", "NVIDIA GeForce RTX 5090")
    assert pve.nvidia_driver_version == "575.64.03"
    assert pve.char_major("nvidia-uvm") == pve.node("/dev/nvidia-uvm").major == 511
    assert (pve.group_gid("video"), pve.group_gid("render")) == (44, 108)


def test_select_by_vendor_and_product_id(pve):
    assert pve.select_gpu("intel", vendor_id=0x8086, product_id=0x3E92).pci == "0000:00:02.0"
    assert pve.select_gpu("nvidia").pci == "0000:01:00.0"  # the only NVIDIA GPU


def test_missing_address_lists_what_the_facts_contain(pve):
    with pytest.raises(ValidationError) as err:
        pve.select_gpu("intel", pci="0000:00:03.0")
    message = str(err.value)
    assert "no Intel GPU matches pci 0000:00:03.0" in message
    assert "0000:00:02.0 Intel 8086:3e92 (i915): card0 renderD128" in message
    assert "0000:01:00.0 NVIDIA 10de:2b85 (nvidia) NVIDIA GeForce RTX 5090: card1 renderD129 nvidia0" in message


def test_address_of_another_vendor_says_which_gpu_it_is(pve):
    with pytest.raises(ValidationError, match=r"no Intel GPU matches pci 0000:01:00.0 \(that address is 0000:01:00.0 NVIDIA"):
        pve.select_gpu("intel", pci="0000:01:00.0")


def test_no_gpu_of_a_vendor(pve):
    with pytest.raises(ValidationError, match="no AMD GPU is recorded. GPUs recorded: 0000:00:02.0"):
        pve.select_gpu("amd")


def test_ambiguous_selector_lists_the_matches():
    facts = HostFacts.from_json({
        "schema": "pve-gpu-lxc/host-facts", "schema_version": 1, "hostname": "twin",
        "drm": [
            {"name": "renderD128", "bus_id": "0000:03:00.0", "subsystem": "pci", "vendor": "0x1002",
             "device": "0x744c", "driver": "amdgpu"},
            {"name": "renderD129", "bus_id": "0000:04:00.0", "subsystem": "pci", "vendor": "0x1002",
             "device": "0x744c", "driver": "amdgpu"},
        ],
    })
    with pytest.raises(ValidationError, match=r"2 AMD GPUs match product_id 0x744c: 0000:03:00.0 .*0000:04:00.0.*pci='<address>'"):
        facts.select_gpu("amd", product_id=0x744C)
    assert facts.select_gpu("amd", pci="0000:04:00.0").render == "/dev/dri/renderD129"


def test_pci_and_product_id_cannot_be_combined(pve):
    with pytest.raises(ValidationError, match="pci OR by vendor_id/product_id"):
        pve.select_gpu("intel", pci="0000:00:02.0", product_id=0x3E92)


def test_simpledrm_card_is_not_a_pci_gpu():
    facts = HostFacts.from_json({
        "schema": "pve-gpu-lxc/host-facts", "schema_version": 1, "hostname": "x",
        "drm": [{"name": "card0", "bus_id": "simple-framebuffer.0", "subsystem": "platform"},
                {"name": "card1", "bus_id": "0000:00:02.0", "subsystem": "pci", "vendor": "0x8086",
                 "device": "0x3e92", "driver": "i915"}],
    })
    assert [g.card for g in facts.gpus()] == ["/dev/dri/card1"]


def test_char_device_checks(pve):
    assert pve.require_char_device("/dev/nvidia-uvm").major == 511
    with pytest.raises(ValidationError, match=r"/dev/nvidia-caps is a directory, not a char device"):
        pve.require_char_device("/dev/nvidia-caps")
    with pytest.raises(ValidationError, match=r"/dev/dri/renderD130 does not exist on the node.*/dev/dri/card0"):
        pve.require_char_device("/dev/dri/renderD130")
    assert pve.missing_nvidia_control_nodes() == ()


def test_missing_control_nodes_are_reported():
    facts = HostFacts.from_listings("pve", ls=[recorded("nvct-50-ls-nv.txt")])
    assert facts.missing_nvidia_control_nodes() == ()
    only_gpu = HostFacts.from_listings("pve", ls=["crw-rw-rw- 1 root root 195, 0 Feb 17 13:47 /dev/nvidia0\n"])
    assert only_gpu.missing_nvidia_control_nodes() == ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")


def test_subid_coverage_of_the_seed_idmap(pve):
    seed_g = [(100000, 44), (44, 1), (100045, 61), (108, 1), (100107, 65429)]
    assert pve.uncovered_subids("g", seed_g) == ()
    assert pve.uncovered_subids("g", [(104, 1), (100000, 70000)]) == (IdRange(104, 1), IdRange(165536, 4464))
    assert pve.uncovered_subids("u", [(0, 1)]) == (IdRange(0, 1),)


def test_round_trip_through_json(pve):
    again = HostFacts.from_json(json.loads(json.dumps(pve.to_json())))
    assert again == pve


def test_pasted_listings_build_facts_that_save_and_load(tmp_path):
    facts = HostFacts.from_listings(
        "blackbox",
        ls=[recorded("seed-blackbox-ls-dri.txt")],
        nvidia_version=recorded("nixgl-186-nvidia-version-open.txt"),
        nvidia_information={"0000:04:00.0": recorded("lxd-3950-nvidia-information.txt")},
        group_file="video:x:44:\nrender:x:108:\n",
        subgid="root:100000:65536\nroot:44:1\n",
    )
    path = tmp_path / "blackbox.json"
    path.write_text(json.dumps(facts.to_json()))
    loaded = HostFacts.load(path)
    assert loaded.nvidia_driver_version == "565.57.01"
    assert loaded.group_gid("render") == 108 and loaded.subgid == (IdRange(100000, 65536), IdRange(44, 1))
    assert loaded.require_char_device("/dev/dri/renderD128").group == "render"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"schema": "other"}, "is not a host facts document"),
        ({"schema": "pve-gpu-lxc/host-facts", "schema_version": 2, "hostname": "pve"}, "schema_version 2"),
        ({"schema": "pve-gpu-lxc/host-facts", "schema_version": 1, "hostname": "pve",
          "devices": [{"path": "/dev/x"}]}, "malformed"),
        ({"schema": "pve-gpu-lxc/host-facts", "schema_version": 1, "hostname": "pve",
          "nvidia": {"version_file": "garbage"}}, "cannot find the driver version"),
    ],
)
def test_bad_documents_are_rejected_with_the_reason(document, message):
    with pytest.raises(ValidationError, match=message):
        HostFacts.from_json(document)


def test_missing_facts_file_says_how_to_record_it(tmp_path):
    with pytest.raises(ValidationError, match=r"does not exist; record it on the node with `pve-gpu-lxc facts "
                       rf"--node nope --ssh root@<host> --out {tmp_path}/nope.json` \(or by hand: `ssh root@<host> sh -s <"):
        HostFacts.load(tmp_path / "nope.json")


# --------------------------------------------------------------------------- properties

from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_names = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF, blacklist_characters="/"), min_size=1,
                 max_size=12).filter(lambda n: n not in (".", "..") and " -> " not in n)
_months = st.sampled_from(["Jan", "Feb", "May", "Aug", "Dec"])


@settings(max_examples=60, deadline=None)
@given(
    name=_names,
    kind=st.sampled_from("cbd-l"),
    numbers=st.tuples(st.integers(0, 4095), st.integers(0, 1 << 20)),
    perm=st.integers(0, 0o7777),
    owner=st.sampled_from(["root", "nobody", "100000"]),
    group=st.sampled_from(["video", "render", "root", "44"]),
    date=st.tuples(_months, st.integers(1, 31), st.sampled_from(["21:54", " 2023"])),
)
# Found by hypothesis: Unicode whitespace (U+0085 NEL, U+00A0) belongs to the name, not the layout.
@example(name="0\x85", kind="c", numbers=(0, 0), perm=0, owner="root", group="video", date=("Jan", 1, "21:54"))
@example(name="\x85", kind="c", numbers=(0, 0), perm=0, owner="root", group="video", date=("Jan", 1, "21:54"))
@example(name="x\xa0", kind="l", numbers=(0, 7), perm=0o777, owner="root", group="root", date=("May", 12, " 2023"))
def test_ls_lines_round_trip(name, kind, numbers, perm, owner, group, date):
    """Any entry ls prints (as `ls -l` formats it) parses back to the same node."""
    bits = "".join(c if perm >> (8 - i) & 1 else "-" for i, c in enumerate("rwxrwxrwx"))
    for index, special, on, off in ((2, 0o4000, "s", "S"), (5, 0o2000, "s", "S"), (8, 0o1000, "t", "T")):
        if perm & special:
            bits = bits[:index] + (on if bits[index] == "x" else off) + bits[index + 1:]
    size = f"{numbers[0]:>4}, {numbers[1]:>3}" if kind in "cb" else f"{numbers[1]:>8}"
    target = " -> ../card0" if kind == "l" else ""
    line = f"{kind}{bits} 1 {owner} {group} {size} {date[0]} {date[1]:>2} {date[2]} {name}{target}\n"
    (node,) = parse_ls(line, base="/dev/dri")
    assert node.path == f"/dev/dri/{name}"
    assert node.type == {"-": "f"}.get(kind, kind)
    assert node.mode == perm
    assert (node.major, node.minor) == (numbers if kind in "cb" else (None, None))
    assert (node.owner or str(node.uid), node.group or str(node.gid)) == (owner, group)
    assert node.target == ("../card0" if kind == "l" else None)


def test_uncovered_host_id_ranges() -> None:
    """The one coverage rule synthesis (verify), explain and check use for subuid/subgid."""
    from pve_gpu_lxc.facts.records import IdRange, uncovered

    assert uncovered([IdRange(100000, 65536)], 100000, 65536) == ()
    assert uncovered([IdRange(100000, 100)], 100050, 100) == (IdRange(100100, 50),)
    assert uncovered([IdRange(20, 5), IdRange(10, 5)], 10, 15) == (IdRange(15, 5),)
    assert uncovered([], 44, 1) == (IdRange(44, 1),)
    assert uncovered([IdRange(0, 10), IdRange(5, 20)], 0, 25) == ()

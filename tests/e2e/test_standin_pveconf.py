"""The stand-in's PVE config reader/writer (pure, no terraform)."""

from __future__ import annotations

import pytest

from pve_gpu_lxc_testing.standin import pveconf

REAL_LOOKING = """#Jellyfin%3A media server
#
#second line
arch: amd64
cores: 4
dev0: deny-write=0,path=/dev/dri/card0,uid=0,gid=44,mode=0660
hostname: jellyfin
unprivileged: 1
lxc.idmap: u 0 100000 65536
lxc.idmap: g 0 100000 44

[snap1]
arch: amd64
"""


def test_round_trip_is_byte_identical() -> None:
    assert pveconf.render(pveconf.parse(REAL_LOOKING)) == REAL_LOOKING


def test_description_is_decoded_with_one_newline_per_comment_line() -> None:
    conf = pveconf.parse(REAL_LOOKING)
    assert conf.description == "Jellyfin: media server\n\nsecond line\n"
    assert conf.lxc_values("lxc.idmap") == ["u 0 100000 65536", "g 0 100000 44"]
    assert conf.tail.startswith("[snap1]")
    assert "arch" in conf.options and conf.options["cores"] == "4"


def test_render_sorts_keys_and_puts_raw_lxc_lines_last() -> None:
    conf = pveconf.PveConf(description="hi", options={"tags": "a;b", "arch": "amd64", "dev1": "x", "dev0": "y"},
                           lxc=[("lxc.idmap", "g 0 100000 65536")])
    assert pveconf.render(conf) == (
        "#hi\narch: amd64\ndev0: y\ndev1: x\ntags: a;b\nlxc.idmap: g 0 100000 65536\n")


def test_replace_lxc_drops_every_line_and_appends_at_the_end() -> None:
    conf = pveconf.PveConf(lxc=[("lxc.idmap", "u 0 1 2"), ("lxc.cgroup2.devices.allow", "c 226:* rwm"),
                                ("lxc.idmap", "g 0 1 2")])
    conf.replace_lxc("lxc.idmap", ["u 0 100000 65536"])
    assert conf.lxc == [("lxc.cgroup2.devices.allow", "c 226:* rwm"), ("lxc.idmap", "u 0 100000 65536")]


def test_unparsable_line_names_line_and_content() -> None:
    with pytest.raises(pveconf.ConfError, match=r"line 2: 'garbage without colon'"):
        pveconf.parse("arch: amd64\ngarbage without colon\n")


def test_newline_inside_a_value_is_refused() -> None:
    with pytest.raises(pveconf.ConfError, match="hostname"):
        pveconf.render(pveconf.PveConf(options={"hostname": "a\nb"}))


def test_property_strings() -> None:
    assert pveconf.parse_property_string("local-lvm:vm-1-disk-0,size=8G", default_key="volume") == {
        "volume": "local-lvm:vm-1-disk-0", "size": "8G"}
    assert pveconf.print_property_string([("b", "1"), ("a", "2")]) == "b=1,a=2"
    with pytest.raises(pveconf.ConfError, match="no '='"):
        pveconf.parse_property_string("x,y")

"""pve_gpu_lxc.pve.conf: PVE container config files (pve-container Config.pm parse_pct_config/write_pct_config),
the one reader and writer the product (`explain`) and the simulated node share."""

from __future__ import annotations

import pytest

from pve_gpu_lxc.pve import conf as pveconf

HAND_WRITTEN = """\
#Media server%3A jellyfin
#second line
unprivileged: 1
arch: amd64
dev0: deny-write=0,path=/dev/dri/renderD128,uid=0,gid=993,mode=0660
memory: 2048
lxc.idmap: u 0 100000 65536
lxc.idmap: g 0 100000 44
lxc.cgroup2.devices.allow: c 226:128 rwm

[pve:pending]
dev0: deny-write=0,path=/dev/dri/renderD128,uid=0,gid=44,mode=0660
delete: swap

[snap1]
arch: amd64
memory: 512
"""


def test_description_lines_are_decoded_and_end_with_a_newline():
    conf = pveconf.parse(HAND_WRITTEN)
    assert conf.description == "Media server: jellyfin\nsecond line\n"


def test_options_and_raw_lxc_lines_are_separated_and_lxc_order_is_kept():
    conf = pveconf.parse(HAND_WRITTEN)
    assert conf.options["dev0"] == "deny-write=0,path=/dev/dri/renderD128,uid=0,gid=993,mode=0660"
    assert conf.options["unprivileged"] == "1"
    assert conf.lxc == [("lxc.idmap", "u 0 100000 65536"), ("lxc.idmap", "g 0 100000 44"),
                        ("lxc.cgroup2.devices.allow", "c 226:128 rwm")]
    assert conf.lxc_values("lxc.idmap") == ["u 0 100000 65536", "g 0 100000 44"]


def test_pending_section_is_parsed_and_current_view_applies_it():
    conf = pveconf.parse(HAND_WRITTEN)
    assert conf.pending.options["dev0"].endswith("gid=44,mode=0660")
    assert conf.pending_delete() == {"swap": False}
    current = conf.current()
    assert current["dev0"].endswith("gid=44,mode=0660")
    assert "snap1" not in current and current["memory"] == "2048"


def test_render_writes_pve_order_and_keeps_snapshots_verbatim():
    text = pveconf.render(pveconf.parse(HAND_WRITTEN))
    assert text == """\
#Media server%3A jellyfin
#second line
arch: amd64
dev0: deny-write=0,path=/dev/dri/renderD128,uid=0,gid=993,mode=0660
memory: 2048
unprivileged: 1
lxc.idmap: u 0 100000 65536
lxc.idmap: g 0 100000 44
lxc.cgroup2.devices.allow: c 226:128 rwm

[pve:pending]
delete: swap
dev0: deny-write=0,path=/dev/dri/renderD128,uid=0,gid=44,mode=0660

[snap1]
arch: amd64
memory: 512
"""


def test_render_parse_round_trip_is_stable():
    once = pveconf.render(pveconf.parse(HAND_WRITTEN))
    assert pveconf.render(pveconf.parse(once)) == once


@pytest.mark.parametrize(("text", "encoded"), [
    ("a:b", "a%3Ab"),
    ("tab\there", "tab%09here"),
    ("100% ok", "100%25 ok"),  # pve-common ParseUtils.pm encode_text escapes '%' (0x25) too
    ("%3A", "%253A"),  # so a literal escape sequence survives the round trip
    ("ünïcode", "%C3%BCn%C3%AFcode"),
])
def test_encode_text_escapes_like_pve(text, encoded):
    assert pveconf.encode_text(text) == encoded
    assert pveconf.decode_text(encoded) == text


def test_description_round_trip_through_render():
    conf = pveconf.PveConf(description="line: one\nline two", options={"memory": "512"})
    assert pveconf.render(conf) == "#line%3A one\n#line two\nmemory: 512\n"
    assert pveconf.parse(pveconf.render(conf)).description == "line: one\nline two\n"


def test_newline_in_a_value_is_refused():
    with pytest.raises(pveconf.ConfError, match="detected invalid newline inside property 'hostname'"):
        pveconf.render(pveconf.PveConf(options={"hostname": "a\nb"}))


def test_refused_lxc_keys_and_garbage_lines_become_warnings():
    conf = pveconf.parse("lxc.rootfs.path: /x\nlxc.bogus: 1\nnot a line\nmemory: 512\n", vmid=7)
    assert conf.lxc == []
    assert conf.options == {"memory": "512"}
    assert conf.warnings == [
        "vm 7 - lxc.rootfs.path: lxc.rootfs.path is auto generated from rootfs",
        "vm 7 - unable to parse config: lxc.bogus: 1",
        "vm 7 - unable to parse config: not a line",
    ]


def test_delete_outside_pending_is_a_warning():
    conf = pveconf.parse("delete: swap\nmemory: 1\n", vmid=5)
    assert "delete" not in conf.options
    assert conf.warnings == ["vm 5 - property 'delete' is only allowed in [pve:pending]"]


@pytest.mark.parametrize(("key", "value", "typed"), [
    ("unprivileged", "1", 1), ("onboot", "yes", 1), ("protection", "0", 0),
    ("cores", "4", 4), ("memory", "2048", 2048),
    ("cpulimit", "1.5", "1.5"),  # PVE's check_type returns 'number' values as the matched string
    ("hostname", "ct", "ct"), ("dev0", "path=/dev/null", "path=/dev/null"),
    ("cores", "many", "many"),  # a broken value is returned as stored (PVE warns)
])
def test_typed_value_matches_pve_check_type(key, value, typed):
    assert pveconf.typed_value(key, value) == typed
    assert type(pveconf.typed_value(key, value)) is type(typed)


def test_property_string_print_puts_default_then_required_then_sorted():
    net = {"type": "veth", "hwaddr": "BC:24:11:00:00:01", "bridge": "vmbr0", "name": "eth0", "ip": "dhcp"}
    assert pveconf.print_property_string(pveconf.NET_SCHEMA, net) == \
        "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth"
    mp = {"size": "8G", "mp": "/data", "volume": "local-lvm:vm-1-disk-1", "backup": "1"}
    assert pveconf.print_property_string(pveconf.MP_SCHEMA, mp) == "local-lvm:vm-1-disk-1,mp=/data,backup=1,size=8G"


def test_property_string_parse_accepts_default_key_and_reports_pve_errors():
    assert pveconf.parse_property_string(pveconf.DEV_SCHEMA, "/dev/dri/card0,gid=44") == \
        {"path": "/dev/dri/card0", "gid": "44"}
    with pytest.raises(pveconf.PropertyStringError) as err:
        pveconf.parse_property_string(pveconf.DEV_SCHEMA, "path=/etc/passwd,mode=777", "dev0")
    assert err.value.errors == {
        "dev0.path": "invalid format - /etc/passwd is not a valid device path",
        "dev0.mode": "value does not match the regex pattern",
    }


def test_parse_normalises_values_as_check_type_and_warns_about_unknown_settings():
    conf = pveconf.parse("onboot: yes\ncores: 007\ncpulimit: 1.50\nbogus: 1\nlxc.environment.runtime: A=1\n", vmid=9)
    assert conf.options == {"onboot": "1", "cores": "7", "cpulimit": "1.50", "bogus": "1", "env": "A=1"}
    assert conf.warnings == ["vm 9 - unable to parse value of 'bogus' - unknown setting 'bogus'"]
    assert pveconf.render(conf) == "bogus: 1\ncores: 7\ncpulimit: 1.50\nonboot: 1\nlxc.environment.runtime: A=1\n"

"""bpg's state <-> PVE config mapping as the stand-in models it (pure, no terraform)."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import pytest

from pve_gpu_lxc_testing.standin import container, planning, pveconf, tfschema

BLOCK = tfschema.resource_block_spec(container.TYPE)
EXTRAS = tfschema.resource_extras(container.TYPE)


def planned_state(**overrides: Any) -> dict[str, Any]:
    cfg = planning.complete(BLOCK, {
        "node_name": "pve", "vm_id": 300, "unprivileged": True, "description": "GPU box",
        "tags": ["b", "a"], "hook_script_file_id": "local:snippets/h.sh",
        "features": [{"nesting": True, "keyctl": True}],
        "device_passthrough": [{"path": "/dev/dri/card0", "gid": 44},
                               {"path": "/dev/dri/renderD128", "gid": 993, "deny_write": True}],
        "idmap": [{"type": "uid", "container_id": 0, "host_id": 100000, "size": 65536},
                  {"type": "gid", "container_id": 44, "host_id": 44, "size": 1}],
        "operating_system": [{"template_file_id": "local:vztmpl/d.tar.zst", "type": "debian"}],
        **overrides,
    })
    state = planning.plan(BLOCK, EXTRAS, None, cfg, cfg).planned
    state.update(id="300", description=container.normalize_description(state["description"]))
    return state


def created() -> tuple[dict[str, Any], pveconf.PveConf]:
    state = planned_state()
    conf = container.create_conf(state, 300)
    return container.scrub_unknown(container.read_state(state, conf, "running")), conf


def test_device_string_is_bpg_order_with_every_key() -> None:
    assert container.device_string({"path": "/dev/dri/renderD128", "gid": 993}) == \
        "deny-write=0,path=/dev/dri/renderD128,uid=0,gid=993,mode=0660"


def test_create_writes_true_feature_flags_sorted_tags_and_idmap_lines_last() -> None:
    text = pveconf.render(created()[1])
    assert text.startswith("#GPU box\n")
    assert "\nfeatures: keyctl=1,nesting=1\n" in text
    assert "\ntags: a;b\n" in text and "\nunprivileged: 1\n" in text
    assert "\ndev1: deny-write=1,path=/dev/dri/renderD128,uid=0,gid=993,mode=0660\n" in text
    assert "\nhookscript: local:snippets/h.sh\n" in text
    assert text.endswith("lxc.idmap: u 0 100000 65536\nlxc.idmap: g 44 44 1\n")


def test_update_sends_all_feature_flags() -> None:
    state, conf = created()
    planned = deepcopy(state)
    planned["features"][0]["fuse"] = True
    container.update_conf(conf, state, planned, 300)
    assert conf.options["features"] == "fuse=1,keyctl=1,nesting=1,mknod=0"


def test_read_back_of_a_fresh_create_equals_the_state() -> None:
    state, conf = created()
    assert container.read_state(state, conf, "running") == state


def test_blind_spot_no_devn_at_all_keeps_the_state() -> None:
    state, conf = created()
    for key in ("dev0", "dev1"):
        del conf.options[key]
    assert container.read_state(state, conf, "running")["device_passthrough"] == state["device_passthrough"]


def test_one_devn_removed_is_seen_positionally() -> None:
    state, conf = created()
    del conf.options["dev0"]
    devices = container.read_state(state, conf, "running")["device_passthrough"]
    assert [d["path"] for d in devices] == ["/dev/dri/renderD128"]


def test_shrinking_the_device_list_leaves_trailing_devn() -> None:
    state, conf = created()
    planned = deepcopy(state)
    planned["device_passthrough"] = planned["device_passthrough"][:1]
    container.update_conf(conf, state, planned, 300)
    assert "dev1" in conf.options  # bpg never deletes devN beyond the new list
    assert len(container.read_state(planned, conf, "running")["device_passthrough"]) == 2


def test_idmap_is_always_reread_and_rewritten_at_the_end() -> None:
    state, conf = created()
    conf.lxc = conf.lxc[:1]
    read = container.read_state(state, conf, "running")
    assert read["idmap"] == state["idmap"][:1]
    conf.lxc.append(("lxc.apparmor.profile", "unconfined"))
    container.update_conf(conf, read, state, 300)
    assert conf.lxc[0] == ("lxc.apparmor.profile", "unconfined")
    assert conf.lxc_values("lxc.idmap") == ["u 0 100000 65536", "g 44 44 1"]


def test_malformed_idmap_line_fails_the_read_like_bpg() -> None:
    state, conf = created()
    conf.lxc.append(("lxc.idmap", "x 0 1"))
    with pytest.raises(container.ReadError, match="'x 0 1'"):
        container.read_state(state, conf, "running")


def test_hookscript_removed_by_hand_reads_as_empty_and_update_deletes_it() -> None:
    state, conf = created()
    del conf.options["hookscript"]
    read = container.read_state(state, conf, "running")
    assert read["hook_script_file_id"] == ""
    restored = dict(read, hook_script_file_id="local:snippets/h.sh")
    container.update_conf(conf, read, restored, 300)
    assert conf.options["hookscript"] == "local:snippets/h.sh"
    container.update_conf(conf, restored, dict(restored, hook_script_file_id=""), 300)
    assert "hookscript" not in conf.options

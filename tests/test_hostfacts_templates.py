"""Template GIDs read on the node: the collector's `templates` list, built from real tarballs
(zstd, xz, gzip, plain tar) in a fake node root, and how synthesis resolves a template's GIDs
from it (explicit > template_file > the node's recorded facts > the table of observed builds)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pve_gpu_lxc import HostFacts, IntelGpu, Template, ValidationError, read_template_gids
from pve_gpu_lxc.facts.io import SCHEMA, SCHEMA_VERSION, collector_script
from pve_gpu_lxc.model.container import build_model
from pve_gpu_lxc.model.props import GpuContainerProps
from pve_gpu_lxc_testing.templates import DEBIAN_GROUP, build_template

DEBIAN_12_7 = "debian-12-standard_12.7-1_amd64.tar.zst"  # what `pveam available` offers; not in the table
CACHE = "var/lib/vz/template/cache"
SH = shutil.which("sh") or "/bin/sh"
COMMITTED = Path(__file__).parents[1] / "stacks" / "facts" / "pve.json"  # the example node: Intel + NVIDIA


def collect(root: Path, env: dict[str, str] | None = None) -> dict:
    result = subprocess.run([SH, str(collector_script()), str(root)], capture_output=True, text=True,
                            timeout=120, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


def templates(root: Path) -> dict[str, dict]:
    return {t["volid"]: t for t in collect(root)["templates"]}


LOCAL_ONLY = "dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl,iso\n"


def node_root(tmp_path: Path, storage_cfg: str | None = LOCAL_ONLY) -> Path:
    root = tmp_path / "root"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/hostname").write_text("pve\n")
    if storage_cfg is not None:
        (root / "etc/pve").mkdir(parents=True)
        (root / "etc/pve/storage.cfg").write_text(storage_cfg)
    return root


def fingerprint(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else None
        out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, digest)
    return out


# --------------------------------------------------------------------------- the collector


@pytest.mark.parametrize("suffix", [".tar.zst", ".tar.xz", ".tar.gz", ".tar"])
def test_collector_reads_each_compression(tmp_path: Path, suffix: str) -> None:
    root = node_root(tmp_path)
    build_template(root / CACHE / f"debian-12-standard_12.7-1_amd64{suffix}")
    volid = f"local:vztmpl/debian-12-standard_12.7-1_amd64{suffix}"
    assert templates(root) == {volid: {
        "volid": volid, "storage": "local", "file": f"debian-12-standard_12.7-1_amd64{suffix}",
        "path": f"/var/lib/vz/template/cache/debian-12-standard_12.7-1_amd64{suffix}",
        "video": 44, "render": 104, "video_member": "./etc/group", "render_member": "./etc/group", "error": None,
        "oci": None}}


def test_collector_reads_members_without_the_dot_prefix(tmp_path: Path) -> None:
    root = node_root(tmp_path)
    build_template(root / CACHE / "custom.tar.xz", dot_prefix=False,
                   etc_group="root:x:0:\nvideo:x:27:\nrender:x:989:\n")
    t = templates(root)["local:vztmpl/custom.tar.xz"]
    assert (t["video"], t["render"], t["video_member"], t["error"]) == (27, 989, "etc/group", None)


def test_collector_takes_a_group_missing_from_etc_group_from_usr_lib_group(tmp_path: Path) -> None:
    root = node_root(tmp_path)
    build_template(root / CACHE / "split.tar.zst", etc_group="root:x:0:\nvideo:x:44:\n",
                   usr_lib_group="render:x:998:\nvideo:x:39:\n")
    t = templates(root)["local:vztmpl/split.tar.zst"]
    assert (t["video"], t["video_member"]) == (44, "./etc/group")
    assert (t["render"], t["render_member"]) == (998, "./usr/lib/group")


def test_collector_records_an_absent_group_as_null(tmp_path: Path) -> None:
    root = node_root(tmp_path)
    build_template(root / CACHE / "alpine-3.20-default_20240908_amd64.tar.xz", etc_group="root:x:0:\nvideo:x:27:\n")
    t = templates(root)["local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz"]
    assert (t["video"], t["render"], t["render_member"], t["error"]) == (27, None, None, None)


def test_collector_stops_reading_at_the_member(tmp_path: Path) -> None:
    """The tar stream is cut short after etc/: only a reader that stops at ./etc/group gets the GIDs."""
    root = node_root(tmp_path)
    build_template(root / CACHE / "cut.tar.zst", truncate_after_etc=True)
    t = templates(root)["local:vztmpl/cut.tar.zst"]
    assert (t["video"], t["render"], t["error"]) == (44, 104, None)


def test_collector_reports_unreadable_tarballs_with_the_reason(tmp_path: Path) -> None:
    root = node_root(tmp_path)
    good = build_template(tmp_path / "good.tar.zst")
    (root / CACHE).mkdir(parents=True)
    (root / CACHE / "partial.tar.zst").write_bytes(good.read_bytes()[:2000])  # an interrupted download
    build_template(root / CACHE / "no-etc.tar.gz", etc_group=None)
    found = templates(root)
    assert found["local:vztmpl/partial.tar.zst"]["error"].startswith("zstd -dc failed (exit status 1); tar -x ")
    assert found["local:vztmpl/partial.tar.zst"]["video"] is None
    assert found["local:vztmpl/no-etc.tar.gz"]["error"] == (
        "no ./etc/group or etc/group member: not a container template")


def test_collector_names_a_missing_decompressor(tmp_path: Path) -> None:
    root = node_root(tmp_path)
    build_template(root / CACHE / "a.tar.zst")
    bin_dir = tmp_path / "bin"  # every tool the collector uses but zstd
    bin_dir.mkdir()
    for tool in ("awk", "sed", "cat", "tar", "grep", "stat", "readlink", "date", "uname"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    doc = collect(root, env={"PATH": str(bin_dir)})
    assert doc["templates"][0]["error"] == "zstd is not installed on the node"


def test_collector_follows_pve_storage_rules(tmp_path: Path) -> None:
    root = node_root(tmp_path, (
        "dir: local\n\tpath /var/lib/vz\n\tcontent iso,backup\n\n"         # no vztmpl on local here
        "nfs: nas\n\tserver 192.0.2.5\n\texport /tank\n\tcontent vztmpl\n\n"  # mounted at /mnt/pve/nas
        "cifs: share\n\tserver 192.0.2.6\n\tshare t\n\tpath /srv/cifs\n\tcontent vztmpl\n\n"
        "dir: moved\n\tpath /srv/moved\n\tcontent vztmpl\n\tcontent-dirs vztmpl=tmpl\n\n"
        "dir: off\n\tpath /srv/off\n\tcontent vztmpl\n\tdisable\n\n"
        "dir: elsewhere\n\tpath /srv/elsewhere\n\tcontent vztmpl\n\tnodes pve2,pve3\n\n"
        "dir: mine\n\tpath /srv/mine\n\tcontent vztmpl\n\tnodes pve2,pve\n\n"
        "dir: nocontent\n\tpath /srv/nocontent\n\n"                           # dir's default: images,rootdir
        "lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n"))
    for directory in (CACHE, "mnt/pve/nas/template/cache", "srv/cifs/template/cache", "srv/moved/tmpl",
                      "srv/off/template/cache", "srv/elsewhere/template/cache", "srv/mine/template/cache",
                      "srv/nocontent/template/cache"):
        build_template(root / directory / "t.tar.gz", filler_bytes=1024)
    (root / "srv/moved/tmpl/notes.txt").write_text("not a template\n")
    assert sorted(templates(root)) == ["mine:vztmpl/t.tar.gz", "moved:vztmpl/t.tar.gz", "nas:vztmpl/t.tar.gz",
                                       "share:vztmpl/t.tar.gz"]
    assert templates(root)["moved:vztmpl/t.tar.gz"]["path"] == "/srv/moved/tmpl/t.tar.gz"


def test_collector_without_storage_cfg_uses_pve_default_local(tmp_path: Path) -> None:
    """PVE::Storage::Plugin::parse_config: `local` is always dir /var/lib/vz with vztmpl."""
    root = node_root(tmp_path, storage_cfg=None)
    build_template(root / CACHE / "a.tar.gz", filler_bytes=1024)
    assert list(templates(root)) == ["local:vztmpl/a.tar.gz"]
    other = node_root(tmp_path / "2", "dir: local\n\tpath /srv/elsewhere\n\tcontent iso\n")  # replaced by the default
    build_template(other / CACHE / "b.tar.gz", filler_bytes=1024)
    assert list(templates(other)) == ["local:vztmpl/b.tar.gz"]


def test_collector_writes_nothing(tmp_path: Path) -> None:
    root = node_root(tmp_path)
    build_template(root / CACHE / "a.tar.zst")
    build_template(root / CACHE / "b.tar.xz", usr_lib_group="render:x:998:\n", etc_group="video:x:44:\n")
    before = fingerprint(root)
    env_tmp = tmp_path / "tmp"
    env_tmp.mkdir()
    collect(root, env={"TMPDIR": str(env_tmp)})
    assert fingerprint(root) == before and list(env_tmp.iterdir()) == []


def test_the_recorded_templates_load_and_old_documents_still_do(tmp_path: Path) -> None:
    root = node_root(tmp_path)
    build_template(root / CACHE / DEBIAN_12_7)
    doc = collect(root)
    facts = HostFacts.from_json(doc)
    recorded = facts.template(f"local:vztmpl/{DEBIAN_12_7}")
    assert recorded is not None and (recorded.video, recorded.render) == (44, 104)
    assert HostFacts.from_json(facts.to_json()) == facts
    del doc["templates"]
    assert HostFacts.from_json(doc).templates is None


@pytest.mark.parametrize(("entry", "message"), [
    ({"volid": "local:iso/x.iso", "storage": "local", "file": "x.iso"}, "is not '<storage>:vztmpl/<file>'"),
    ({"volid": "local:vztmpl/x.tar.gz", "storage": "local", "file": "x.tar.gz", "render": "104"}, "is not a GID"),
    ({"volid": "local:vztmpl/x.tar.gz", "storage": "local", "file": "x.tar.gz", "render": -1}, "is not a GID"),
    ({"volid": "local:vztmpl/x.tar.gz", "file": "x.tar.gz"}, "KeyError"),
])
def test_malformed_template_entries_are_rejected(entry: dict, message: str) -> None:
    doc = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "hostname": "pve", "templates": [entry]}
    with pytest.raises(ValidationError, match=message):
        HostFacts.from_json(doc)


# --------------------------------------------------------------------------- Template.existing(template_file=)


@pytest.mark.parametrize("suffix", [".tar.zst", ".tar.xz", ".tar.gz", ".tar"])
def test_template_file_is_read_locally(tmp_path: Path, suffix: str) -> None:
    path = build_template(tmp_path / f"debian-12-standard_12.7-1_amd64{suffix}")
    gids = Template.existing(f"local:vztmpl/{path.name}", template_file=path).gids()
    assert gids is not None and (gids.video, gids.render) == (44, 104)
    assert gids.source == f"{path.name}:./etc/group"


def test_template_file_stops_at_etc_group(tmp_path: Path) -> None:
    gids = read_template_gids(build_template(tmp_path / "cut.tar.zst", truncate_after_etc=True))
    assert (gids.video, gids.render) == (44, 104)


def test_template_file_falls_back_to_usr_lib_group(tmp_path: Path) -> None:
    path = build_template(tmp_path / "split.tar.zst", dot_prefix=False, etc_group="video:x:44:\n",
                          usr_lib_group="render:x:998:\n")
    gids = read_template_gids(path)
    assert (gids.video, gids.render, gids.source) == (44, 998, "split.tar.zst:etc/group + usr/lib/group")


def test_damaged_zst_template_file_is_a_validation_error(tmp_path: Path) -> None:
    good = build_template(tmp_path / "good.tar.zst")
    bad = tmp_path / "bad.tar.zst"
    bad.write_bytes(good.read_bytes()[:100] + b"\0" * 100)
    with pytest.raises(ValidationError, match=r"bad.tar.zst is not a readable template tarball \("):
        read_template_gids(bad)


# --------------------------------------------------------------------------- resolution at synth


def facts_with(*entries: dict, hostname: str = "pve", templates: bool = True) -> HostFacts:
    """The example node's facts with these template entries (or none recorded at all)."""
    doc = {**json.loads(COMMITTED.read_text()), "hostname": hostname}
    del doc["templates"]
    if templates:
        doc["templates"] = [{"storage": e["volid"].split(":")[0], "file": e["volid"].split("/")[-1], **e}
                            for e in entries]
    return HostFacts.from_json(doc, source=f"stacks/facts/{hostname}.json")


def model(template: Template, facts: HostFacts | None, node: str = "pve"):
    return build_model(GpuContainerProps(node_name=node, vm_id=200, hostname="ct", template=template,
                                         gpus=[IntelGpu(card=0, render=128)], host_facts=facts))


def render_gid(m) -> int:
    return next(d.gid for d in m.devices if d.path == "/dev/dri/renderD128")


def refusal(template: Template, facts: HostFacts | None, node: str = "pve") -> str:
    with pytest.raises(ValidationError) as err:
        model(template, facts, node)
    return str(err.value)


NODE_TEMPLATE = {"volid": f"local:vztmpl/{DEBIAN_12_7}", "video": 44, "render": 104}


def test_a_template_on_the_node_resolves_from_the_facts() -> None:
    m = model(Template.existing(f"local:vztmpl/{DEBIAN_12_7}"), facts_with(NODE_TEMPLATE))
    assert render_gid(m) == 104 and next(d.gid for d in m.devices if d.path == "/dev/dri/card0") == 44


def test_the_facts_beat_the_table_of_observed_builds() -> None:
    volid = "local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst"  # the table says 106
    assert render_gid(model(Template.existing(volid), None)) == 106
    assert render_gid(model(Template.existing(volid), facts_with({"volid": volid, "video": 44, "render": 107}))) == 107


def test_a_local_template_file_beats_the_facts(tmp_path: Path) -> None:
    path = build_template(tmp_path / DEBIAN_12_7, etc_group=DEBIAN_GROUP.replace("render:x:104", "render:x:120"))
    template = Template.existing(f"local:vztmpl/{DEBIAN_12_7}", template_file=path)
    assert render_gid(model(template, facts_with(NODE_TEMPLATE))) == 120


def test_an_explicit_gid_beats_everything() -> None:
    template = Template.existing(f"local:vztmpl/{DEBIAN_12_7}", render_gid=150)
    assert render_gid(model(template, facts_with(NODE_TEMPLATE))) == 150


def test_a_download_resolves_once_the_file_is_on_the_node() -> None:
    template = Template.download(url=f"http://download.proxmox.com/images/system/{DEBIAN_12_7}",
                                 checksum="a" * 64, datastore_id="nas")
    assert "nas:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst is not on 'pve' yet (downloaded at apply)" in \
        refusal(template, facts_with(NODE_TEMPLATE))
    on_node = {**NODE_TEMPLATE, "volid": f"nas:vztmpl/{DEBIAN_12_7}"}
    assert render_gid(model(template, facts_with(NODE_TEMPLATE, on_node))) == 104


def test_facts_of_another_node_never_resolve_a_template() -> None:
    message = refusal(Template.existing(f"local:vztmpl/{DEBIAN_12_7}"), facts_with(NODE_TEMPLATE, hostname="pve2"))
    assert ("The host facts passed (stacks/facts/pve2.json) describe node 'pve2', not 'pve': record 'pve' with "
            "`pve-gpu-lxc facts --node pve --ssh root@<host>` and pass those") in message


def test_unknown_template_without_facts_names_the_facts_command() -> None:
    message = refusal(Template.existing(f"local:vztmpl/{DEBIAN_12_7}"), None)
    assert "Record the node's templates with `pve-gpu-lxc facts --node pve --ssh root@<host>`" in message
    assert "pass Template.existing(..., render_gid=N)" in message


def test_unknown_template_message_is_exact() -> None:
    with pytest.raises(ValidationError) as err:
        build_model(GpuContainerProps(node_name="pve", vm_id=200, hostname="ct",
                                      template=Template.existing(f"local:vztmpl/{DEBIAN_12_7}"),
                                      gpus=[IntelGpu(card=None)]))
    assert str(err.value) == (
        f"template '{DEBIAN_12_7}' has no known 'render' GID, and /dev/dri/renderD128 must belong to "
        "the container's 'render' group (an emulated build predicts 104, unverified). Record the node's templates "
        "with `pve-gpu-lxc facts --node pve --ssh root@<host>` (it reads /etc/group out of every template on "
        "'pve', writing nothing there) and pass host_facts=HostFacts.load('stacks/facts/pve.json'); or read it "
        "from the template (tar -xOf <template> ./etc/group | grep '^render:') and pass "
        "Template.existing(..., render_gid=N). Never use the host's GID: inside the container that number names "
        "another group")


def test_a_template_missing_from_the_facts_says_how_to_get_it_there() -> None:
    message = refusal(Template.existing("local:vztmpl/ubuntu-25.04-standard_25.04-1_amd64.tar.zst"),
                      facts_with(NODE_TEMPLATE))
    assert ("stacks/facts/pve.json lists no local:vztmpl/ubuntu-25.04-standard_25.04-1_amd64.tar.zst on 'pve': put "
            "it there (pveam download local ubuntu-25.04-standard_25.04-1_amd64.tar.zst), then re-record with "
            "`pve-gpu-lxc facts --node pve --ssh root@<host>`") in message


def test_the_same_file_on_another_storage_is_named_not_used() -> None:
    message = refusal(Template.existing(f"nas:vztmpl/{DEBIAN_12_7}"), facts_with(NODE_TEMPLATE))
    assert (f"stacks/facts/pve.json lists no nas:vztmpl/{DEBIAN_12_7} on 'pve' (the same file is recorded as "
            f"local:vztmpl/{DEBIAN_12_7}): put it there") in message


def test_facts_recorded_before_templates_say_re_record() -> None:
    message = refusal(Template.existing(f"local:vztmpl/{DEBIAN_12_7}"), facts_with(templates=False))
    assert ("stacks/facts/pve.json was recorded before the collector read templates: re-record it with "
            "`pve-gpu-lxc facts --node pve --ssh root@<host>`") in message


def test_an_unreadable_template_on_the_node_shows_the_collectors_error() -> None:
    broken = {"volid": f"local:vztmpl/{DEBIAN_12_7}", "error": "tar -x ./etc/group: Unexpected EOF in archive"}
    message = refusal(Template.existing(f"local:vztmpl/{DEBIAN_12_7}"), facts_with(broken))
    assert (f"the collector could not read local:vztmpl/{DEBIAN_12_7} on 'pve' (tar -x ./etc/group: Unexpected EOF "
            "in archive): check the file there") in message


def test_a_template_without_the_group_says_so() -> None:
    no_render = {"volid": "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz", "video": 27, "render": None}
    message = refusal(Template.existing(no_render["volid"]), facts_with(no_render))
    assert message.startswith(
        "template 'alpine-3.20-default_20240908_amd64.tar.xz' has no 'render' group (local:vztmpl/alpine-3.20-"
        "default_20240908_amd64.tar.xz as recorded in stacks/facts/pve.json), and /dev/dri/renderD128 "
        "must belong to the container's 'render' group. Create the group with a fixed GID in your image, or pass "
        "Template.existing(..., render_gid=N) and create it in the container with that GID (groupadd -r -g N render)")

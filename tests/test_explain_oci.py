"""`pve-gpu-lxc explain` for a container from an OCI image (issue 22), on hand-written synthesized
documents of the constructs' shape: a `proxmox_oci_image` per node and reference, the container's
template_file_id its id, the declared entrypoint and env, and a hookscript whose pre-start step writes
them.  With the image's config in the host facts, the file after the first start; without it, what
is known and which lines the image decides.  Against a real apply: tests/e2e/test_explain_oci.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pve_gpu_lxc import GpuContainer, IntelGpu, Template, cli
from pve_gpu_lxc.pve import synthesized
from pve_gpu_lxc_testing import ociimage

ROOT = Path(__file__).resolve().parent.parent
FACTS = ROOT / "stacks" / "facts" / "pve.json"
IMAGE = "template-pve-app_1_0"
REFERENCE = "registry.example:5000/team/app:1.0"
VOLID = "local:vztmpl/app_1.0.tar"
ENTRYPOINT = "/app/entry.sh serve"
ENV = {"PATH": "/bin", "APP_MODE": "user"}
HOOK = f"""#!/bin/sh
# (the product's hookscript; only its pre-start step matters here)
case "$2" in
pre-start)
    pve_gpu_lxc_app_config '{ENTRYPOINT}' 'APP_MODE=user
PATH=/bin'
    ;;
esac
"""
IMAGE_CONFIG = {"architecture": "amd64", "os": "linux", "config": {
    "User": "app", "Env": ["PATH=/bin", "APP_MODE=image"], "Entrypoint": ["/app/entry.sh"], "Cmd": ["report"],
    "Volumes": {"/data": {}}, "WorkingDir": "/app", "StopSignal": "SIGINT"}}


def stack_doc(*, hook: bool = True, image: dict[str, Any] | None = None, **container: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "node_name": "pve", "vm_id": 410, "unprivileged": True, "started": True,
        "operating_system": [{"template_file_id": f"${{{synthesized.OCI_IMAGE_TYPE}.{IMAGE}.id}}",
                              "type": "unmanaged"}],
        "device_passthrough": [{"path": "/dev/dri/renderD128", "gid": 1000, "mode": "0660"}],
        "network_interface": [{"name": "eth0", "bridge": "vmbr0", "host_managed": True}],
        "disk": [{"datastore_id": "local-lvm", "size": 4}],
        "console": [{"type": "console"}],
        "initialization": [{"hostname": "app", "entrypoint": ENTRYPOINT}],
        "environment_variables": dict(ENV),
        "idmap": [{"type": "uid", "container_id": 0, "host_id": 100000, "size": 65536},
                  {"type": "gid", "container_id": 0, "host_id": 100000, "size": 65536}],
        **container,
    }
    resources: dict[str, Any] = {
        synthesized.OCI_IMAGE_TYPE: {IMAGE: image if image is not None else {
            "node_name": "pve", "datastore_id": "local", "reference": REFERENCE, "file_name": "app_1.0.tar"}},
        synthesized.CONTAINER_TYPE: {"app": body},
    }
    if hook:
        body["hook_script_file_id"] = f"${{{synthesized.FILE_TYPE}.hook.id}}"
        resources[synthesized.FILE_TYPE] = {"hook": {
            "node_name": "pve", "datastore_id": "local", "content_type": "snippets", "file_mode": "0700",
            "source_raw": [{"data": synthesized.escape_literal(HOOK), "file_name": "pve-gpu-lxc-410.sh"}]}}
    return {"resource": resources}


def facts_file(tmp_path: Path, oci: dict[str, Any] | str | None = "app") -> Path:
    """The example node's facts, with the pulled image in `local`'s cache ("app": the test image's config;
    None: recorded as no OCI image; "absent": not there)."""
    doc = json.loads(FACTS.read_text())
    if oci != "absent":
        if oci == "app":
            oci = {"manifest": "sha256:" + "1" * 64, "config": json.dumps(IMAGE_CONFIG), "user": "app",
                   "passwd": "app:x:1000:1000:app:/app:/bin/sh\n", "passwd_layer": "sha256:" + "2" * 64,
                   "group": "render:x:993:app\n", "group_layer": "sha256:" + "2" * 64, "error": None}
        doc["templates"].append({"volid": VOLID, "storage": "local", "file": "app_1.0.tar",
                                 "path": "/var/lib/vz/template/cache/app_1.0.tar", "video": None, "render": None,
                                 "video_member": None, "render_member": None, "error": None, "oci": oci})
    path = tmp_path / "pve.json"
    path.write_text(json.dumps(doc))
    return path


def explain(tmp_path: Path, doc: dict[str, Any], facts: Path,
            capsys: pytest.CaptureFixture[str]) -> tuple[int, str, dict[str, Any]]:
    out = tmp_path / "cdktf.out"
    (out / "stacks" / "apps").mkdir(parents=True, exist_ok=True)
    (out / "stacks" / "apps" / "cdk.tf.json").write_text(json.dumps(doc))
    report = tmp_path / "report.json"
    capsys.readouterr()
    code = cli.main(["explain", "--no-synth", "--outdir", str(out), "--project-dir", str(tmp_path), "--facts",
                     f"pve={facts}", "--pve-version", "9.1", "--json", str(report)], environ={})
    captured = capsys.readouterr()
    entry = json.loads(report.read_text())["containers"][0] if code == 0 else {}
    return code, captured.out + captured.err, entry


TAIL = ("lxc.environment.runtime: APP_MODE=user\nlxc.environment.runtime: PATH=/bin\nlxc.init.uid: 1000\n"
        "lxc.init.gid: 1000\nlxc.init.groups: 993\nlxc.init.cwd: /app\nlxc.signal.halt: SIGINT\n"
        "lxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 65536\n")


def test_with_the_image_recorded_the_file_after_the_first_start(tmp_path, capsys):
    code, text, entry = explain(tmp_path, stack_doc(), facts_file(tmp_path), capsys)
    assert code == 0, text
    conf = entry["conf"]
    # the declared env (sorted, as bpg sends it and the hook writes it), the image's User, cwd and stop
    # signal, then bpg's idmap lines
    assert conf.endswith(TAIL)
    assert "entrypoint: /app/entry.sh serve\n" in conf and "cmode: console\n" in conf
    assert "net0: name=eth0,bridge=vmbr0,host-managed=1,hwaddr=BC:24:11:XX:XX:XX,type=veth\n" in conf
    assert "ostype: unmanaged\n" in conf and "hookscript: local:snippets/pve-gpu-lxc-410.sh\n" in conf
    assert (entry["problem"], entry["not_modelled"], entry["not_predicted"]) == (None, [], [])
    assert entry["oci_image"] == {
        "address": f"{synthesized.OCI_IMAGE_TYPE}.{IMAGE}", "reference": REFERENCE, "volid": VOLID,
        "recorded_in": "pve.json", "missing": None, "hook_writes_app_config": True}
    assert "/etc/pve/lxc/410.conf after apply, its first start included, on PVE 9.1 (between the lines" in text
    assert (f"  OCI image {REFERENCE} ({synthesized.OCI_IMAGE_TYPE}.{IMAGE}, {VOLID})\n    restore_oci_archive's "
            f"lines from the image config recorded in pve.json; then the hookscript writes the "
            "declared entrypoint and env at the first start\n") in text


def test_without_the_image_in_the_facts_the_images_lines_are_named_with_the_fix(tmp_path, capsys):
    code, text, entry = explain(tmp_path, stack_doc(), facts_file(tmp_path, "absent"), capsys)
    assert code == 0, text
    # what is known: the create's options, the declared entrypoint and env, the idmap
    assert entry["conf"].endswith("lxc.environment.runtime: APP_MODE=user\nlxc.environment.runtime: PATH=/bin\n"
                                  "lxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 65536\n")
    assert entry["not_predicted"] == ["lxc.init.uid", "lxc.init.gid", "lxc.init.groups", "lxc.init.cwd",
                                      "lxc.signal.halt"]
    assert entry["oci_image"]["missing"] == f"{VOLID} is not in pve.json (the image is not pulled yet)"
    assert ("/etc/pve/lxc/410.conf after apply on PVE 9.1, without the lines the OCI image decides (named below):"
            in text)
    assert ("    not predicted (restore_oci_archive writes them from the image's config): lxc.init.uid, lxc.init.gid, "
            "lxc.init.groups, lxc.init.cwd, lxc.signal.halt; " in text)
    assert ("    fix: after the first apply has pulled the image, record the node again: `pve-gpu-lxc facts --node pve "
            "--ssh root@<host>`; then the hookscript writes the declared entrypoint and env at the first start\n"
            in text)


def test_without_the_hook_the_images_entrypoint_and_env_stay(tmp_path, capsys):
    code, text, entry = explain(tmp_path, stack_doc(hook=False), facts_file(tmp_path), capsys)
    assert code == 0, text
    assert "entrypoint: /app/entry.sh report\n" in entry["conf"]
    assert "lxc.environment.runtime: PATH=/bin\nlxc.environment.runtime: APP_MODE=image\nlxc.init.uid: 1000\n" in \
        entry["conf"]
    assert "the hookscript does not write the declared entrypoint and env, so the image's stay" in text
    code, text, entry = explain(tmp_path, stack_doc(hook=False, console=None), facts_file(tmp_path, "absent"), capsys)
    assert entry["not_predicted"][:3] == ["cmode", "entrypoint", "env (lxc.environment.runtime)"]


def test_older_facts_or_an_unreadable_image_say_so(tmp_path, capsys):
    _, _text, entry = explain(tmp_path, stack_doc(), facts_file(tmp_path, None), capsys)
    assert entry["oci_image"]["missing"] == (f"pve.json records {VOLID} but not as an OCI image "
                                             "(recorded before the collector read OCI images?)")
    broken = {"manifest": None, "config": None, "user": None, "passwd": None, "passwd_layer": None, "group": None,
              "group_layer": None, "error": "index.json names no image manifest"}
    _, _text, entry = explain(tmp_path, stack_doc(), facts_file(tmp_path, broken), capsys)
    assert entry["oci_image"]["missing"] == f"the collector could not read {VOLID}: index.json names no image manifest"


def test_an_image_config_pve_refuses_is_the_problem(tmp_path, capsys):
    facts = json.loads(facts_file(tmp_path).read_text())
    config = copy.deepcopy(IMAGE_CONFIG)
    config["config"]["User"] = "a:b:c"
    facts["templates"][-1]["oci"]["config"] = json.dumps(config)
    (tmp_path / "pve.json").write_text(json.dumps(facts))
    code, _text, entry = explain(tmp_path, stack_doc(), tmp_path / "pve.json", capsys)
    assert code == 0 and entry["conf"] is None
    assert entry["problem"] == (f"the file cannot be predicted: PVE's create fails on the image config of {VOLID}: "
                                "OCI config value for 'User' has an invalid format")


def test_the_file_name_defaults_as_bpg_names_it(tmp_path, capsys):
    image = {"node_name": "pve", "datastore_id": "local", "reference": REFERENCE}
    code, _, entry = explain(tmp_path, stack_doc(image=image), facts_file(tmp_path), capsys)
    assert code == 0 and entry["oci_image"]["volid"] == VOLID and entry["conf"].endswith(TAIL)
    image = {"node_name": "pve", "datastore_id": "local", "reference": REFERENCE, "file_name": "${var.name}"}
    code, _text, entry = explain(tmp_path, stack_doc(image=image), facts_file(tmp_path), capsys)
    assert entry["problem"] == (f"the file cannot be predicted: the volume id of {synthesized.OCI_IMAGE_TYPE}.{IMAGE} "
                                "(its datastore_id or file_name)")


def test_a_reference_to_an_image_the_stack_lacks_is_an_error(tmp_path, capsys):
    doc = stack_doc()
    del doc["resource"][synthesized.OCI_IMAGE_TYPE]
    code, text, _ = explain(tmp_path, doc, facts_file(tmp_path), capsys)
    assert code == 1
    assert (f"apps: {synthesized.CONTAINER_TYPE}.app: operating_system.template_file_id names "
            f"{synthesized.OCI_IMAGE_TYPE}.{IMAGE}, which the stack does not have") in text


def test_the_images_config_is_the_tests_image(oci_layout):
    """IMAGE_CONFIG's config section is the one the e2e test pulls (pve_gpu_lxc_testing/ociimage.py), bar Env."""
    pulled = ociimage.image_config(oci_layout)["config"]
    assert {k: v for k, v in pulled.items() if k != "Env"} == \
        {k: v for k, v in IMAGE_CONFIG["config"].items() if k != "Env"}


def test_the_constructs_stack_is_read_as_the_hand_written_one(stack, synth, tmp_path, capsys):
    """The shape the constructs synthesize (Template.oci, entrypoint, env, the hookscript's pre-start step):
    explain finds the image, its volume id and the hook's step, and predicts the file from the facts."""
    GpuContainer(stack, "app", node_name="pve", vm_id=410, hostname="app",
                 template=Template.oci(REFERENCE, os_type="unmanaged", render_gid=1000),
                 gpus=[IntelGpu(card=None, render=128)], entrypoint=ENTRYPOINT,
                 env={**ENV, "GREETING": "it's ${HOME} and %{x}"})
    doc = synth(stack)
    code, text, entry = explain(tmp_path, doc, facts_file(tmp_path), capsys)
    assert code == 0, text
    assert entry["oci_image"]["volid"] == VOLID and entry["oci_image"]["hook_writes_app_config"] is True
    assert entry["oci_image"]["recorded_in"] is not None and entry["not_predicted"] == []
    assert (entry["problem"], entry["not_modelled"]) == (None, [])
    assert "entrypoint: /app/entry.sh serve\n" in entry["conf"]
    assert ("lxc.environment.runtime: APP_MODE=user\nlxc.environment.runtime: GREETING=it's ${HOME} and %{x}\n"
            "lxc.environment.runtime: PATH=/bin\nlxc.init.uid: 1000\n" in entry["conf"])
    # a facts file of the project is named by its path in the project
    assert entry["oci_image"]["recorded_in"] == "pve.json" == entry["facts"]

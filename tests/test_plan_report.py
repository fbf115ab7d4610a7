"""plan_report: plan JSON recorded from real Terraform (tests/data/plans/) in, report out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pve_gpu_lxc.cli import plan as pr

PLANS = Path(__file__).parent / "data" / "plans"
CONTAINER = "proxmox_virtual_environment_container.jellyfin"


def load(name: str) -> dict:
    return json.loads((PLANS / f"{name}.json").read_text())


def attrs(diff: pr.ResourceDiff) -> dict[str, tuple]:
    return {a.path: (a.before, a.after) for a in diff.attributes}


# --- drift (terraform plan -refresh-only) ------------------------------------------------


def test_refresh_drift_lists_recorded_and_found_values_of_the_container():
    report = pr.summarise_plan("intel-jellyfin", load("bpg-refresh-drift"), "drift")
    assert report.status == "drift"
    (diff,) = report.drift
    assert (diff.address, diff.kind, diff.action) == (CONTAINER, "drift", "update")
    changed = attrs(diff)
    assert changed["device_passthrough[0].gid"] == (44, 45)
    assert changed["cpu[0].cores"] == (4, 2)
    # a deleted `lxc.idmap: g 106 108 1` line: lists compare by position, the tail moves up
    assert changed["idmap[4].host_id"] == (108, 100107)
    assert changed["idmap[5]"][1] == pr.ABSENT


def test_refresh_drift_text_reads_address_path_recorded_arrow_found():
    text = pr.format_stack(pr.summarise_plan("intel-jellyfin", load("bpg-refresh-drift"), "drift"))
    assert "== intel-jellyfin: drift" in text
    assert f"    {CONTAINER}: changed outside Terraform" in text
    assert "      device_passthrough[0].gid: 44 -> 45" in text


def test_refresh_mode_ignores_planned_changes_so_config_edits_are_not_drift():
    # the normal plan of the same drift also carries resource_changes; drift mode must not show them
    report = pr.summarise_plan("intel-jellyfin", load("bpg-plan-drift"), "drift")
    assert report.changes == ()
    assert report.drift


def test_a_container_deleted_on_the_node_is_drift_without_attribute_noise():
    report = pr.summarise_plan("intel-jellyfin", load("bpg-refresh-deleted"), "drift")
    (diff,) = report.drift
    assert diff.action == "delete"
    assert diff.attributes == ()
    assert "deleted outside Terraform" in pr.format_stack(report)


def test_clean_refresh_reports_clean_and_exit_0():
    report = pr.summarise_plan("s", load("builtin-refresh-clean"), "drift")
    assert report.status == "clean"
    assert pr.overall_exit_code([report]) == pr.EXIT_OK


def test_terraform_exit_2_without_any_itemised_drift_is_clean():
    # Terraform 1.10/1.11 `plan -refresh-only -detailed-exitcode` says 2 with "No changes"
    # (hashicorp/terraform#36403)
    report = pr.summarise_plan("s", load("builtin-refresh-clean"), "drift", terraform_saw_changes=True)
    assert report.status == "clean"


# --- plan mode ----------------------------------------------------------------------------


def test_plan_mode_shows_the_in_place_correction():
    report = pr.summarise_plan("intel-jellyfin", load("bpg-plan-drift"), "plan")
    assert report.status == "changes"
    (change,) = report.changes
    assert change.action == "update"
    assert attrs(change)["device_passthrough[0].gid"] == (45, 44)
    assert pr.overall_exit_code([report]) == pr.EXIT_FINDING


def test_replacing_a_gpu_container_is_destructive_and_exits_3():
    report = pr.summarise_plan("intel-jellyfin", load("bpg-plan-replace"), "plan")
    (change,) = report.changes
    assert change.action == "replace" and change.destructive
    assert report.status == "destructive"
    assert pr.overall_exit_code([report]) == pr.EXIT_DESTRUCTIVE
    assert pr.overall_exit_code([report], allow_replace=True) == pr.EXIT_FINDING


def test_destructive_text_names_the_container_and_the_attribute_forcing_it():
    text = pr.format_stack(pr.summarise_plan("intel-jellyfin", load("bpg-plan-replace"), "plan"))
    assert f"!!! DESTRUCTIVE: {CONTAINER} will be REPLACED" in text
    assert "unprivileged: false -> true  (forces replacement)" in text


def test_replacing_a_resource_that_is_not_a_container_is_not_destructive():
    report = pr.summarise_plan("s", load("builtin-plan-update-replace"), "plan")
    pinned = next(c for c in report.changes if c.address == "terraform_data.pinned")
    assert pinned.action == "replace" and not pinned.destructive
    assert report.status == "changes"


def test_destroying_a_container_is_destructive():
    plan = load("bpg-plan-replace")
    plan["resource_changes"][0]["change"]["actions"] = ["delete"]
    report = pr.summarise_plan("s", plan, "plan")
    assert report.destructive and report.changes[0].action == "delete"
    assert "will be DESTROYED" in pr.format_stack(report)


def test_forces_replacement_is_marked_from_replace_paths():
    report = pr.summarise_plan("s", load("builtin-plan-update-replace"), "plan")
    pinned = next(c for c in report.changes if c.address == "terraform_data.pinned")
    marked = {a.path for a in pinned.attributes if a.forces_replacement}
    assert marked == {"triggers_replace[0]"}


def test_output_changes_count_as_changes():
    report = pr.summarise_plan("s", load("builtin-plan-update-replace"), "plan")
    assert report.outputs == ("label",)


def test_clean_plan_is_clean():
    report = pr.summarise_plan("s", load("builtin-plan-clean"), "plan")
    assert (report.status, report.changes) == ("clean", ())


# --- sensitive values ---------------------------------------------------------------------


SECRETS = ("test-secret-one", "test-secret-two")


def test_sensitive_values_print_as_sensitive_in_text():
    report = pr.summarise_plan("s", load("builtin-plan-update-replace"), "plan")
    text = pr.format_stack(report)
    assert "input.token: (sensitive) -> (sensitive)" in text
    assert not any(secret in text for secret in SECRETS)


def test_sensitive_values_never_reach_the_json_report():
    # the recorded plan holds the secrets in clear (Terraform writes them there)
    raw = (PLANS / "builtin-plan-update-replace.json").read_text()
    assert all(secret in raw for secret in SECRETS)
    report = pr.summarise_plan("s", json.loads(raw), "plan")
    doc = json.dumps(pr.report_document([report], "plan"))
    assert not any(secret in doc for secret in SECRETS)
    assert pr.SENSITIVE in doc


def test_unmarked_copy_of_a_sensitive_value_is_hidden_too():
    # terraform_data's `output` repeats `input` without Terraform's sensitivity mark
    report = pr.summarise_plan("s", load("builtin-plan-update-replace"), "plan")
    settings = next(c for c in report.changes if c.address == "terraform_data.settings")
    before_output = attrs(settings)["output"][0]
    assert before_output["token"] == pr.SENSITIVE
    assert before_output["label"] == "a"


# --- diff_values ---------------------------------------------------------------------------


def test_diff_values_walks_nested_blocks_and_lists_by_position():
    before = {"dev": [{"path": "/dev/a", "gid": 1}, {"path": "/dev/b", "gid": 2}]}
    after = {"dev": [{"path": "/dev/b", "gid": 2}]}
    got = {c.path: (c.before, c.after) for c in pr.diff_values(before, after)}
    assert got == {
        "dev[0].gid": (1, 2),
        "dev[0].path": ("/dev/a", "/dev/b"),
        "dev[1]": ({"path": "/dev/b", "gid": 2}, pr.ABSENT),
    }


def test_diff_values_treats_missing_and_null_alike():
    assert pr.diff_values({"a": None}, {}) == []


def test_diff_values_masks_a_whole_sensitive_block():
    got = pr.diff_values({"ssh": {"key": "k1"}}, {"ssh": {"key": "k2"}},
                         before_sensitive={"ssh": True}, after_sensitive={"ssh": True})
    assert [(c.path, c.before, c.after) for c in got] == [("ssh.key", pr.SENSITIVE, pr.SENSITIVE)]


def test_unknown_after_value_reads_known_after_apply():
    got = pr.diff_values({"id": "210"}, {}, after_unknown={"id": True})
    assert [(c.path, c.before, c.after) for c in got] == [("id", "210", pr.UNKNOWN)]


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
json_tree = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from("abc"), inner, max_size=3)),
    max_leaves=10,
)


@given(json_tree)
def test_a_value_never_differs_from_itself(value):
    assert pr.diff_values(value, value) == []


@given(json_tree, json_tree)
def test_any_difference_is_reported(before, after):
    if before != after and not _null_equivalent(before, after):
        assert pr.diff_values(before, after) != []


def _null_equivalent(a, b) -> bool:
    """Equal when missing, null, [] and {} count as one value (bpg's legacy type system
    cannot tell them apart), compared structure by structure."""
    missing = object()
    def equiv(x, y):
        if isinstance(x, dict) and isinstance(y, dict):
            return all(equiv(x.get(k, missing), y.get(k, missing)) for k in set(x) | set(y))
        if isinstance(x, list) and isinstance(y, list):
            return len(x) == len(y) and all(equiv(i, j) for i, j in zip(x, y))
        empty = lambda v: None if v is missing or v == [] or v == {} else v  # noqa: E731
        return empty(x) == empty(y)
    return equiv(a, b)


def test_null_and_empty_collections_are_no_change() -> None:
    assert pr.diff_values({"tags": None, "env": None}, {"tags": [], "env": {}}) == []
    assert pr.diff_values({"tags": ["a"]}, {"tags": []}) != []


# --- exit codes and footer ----------------------------------------------------------------


def _report(status: str) -> pr.StackReport:
    plans = {"clean": ("builtin-refresh-clean", "drift"), "drift": ("bpg-refresh-drift", "drift"),
             "destructive": ("bpg-plan-replace", "plan")}
    if status == "error":
        return pr.StackReport(stack="e", mode="drift", error="terraform init failed: x")
    name, mode = plans[status]
    return pr.summarise_plan(status, load(name), mode)


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        (["clean"], 0),
        (["clean", "drift"], 2),
        (["drift", "destructive"], 3),
        (["destructive", "error"], 1),
        (["clean", "error"], 1),
    ],
)
def test_overall_exit_code_precedence_error_then_destructive_then_changes(statuses, code):
    assert pr.overall_exit_code([_report(s) for s in statuses]) == code


def test_footer_names_stacks_by_status_and_says_how_to_accept_a_replacement():
    footer = pr.format_footer([_report("clean"), _report("destructive")])
    assert footer.startswith("2 stack(s) checked; clean: clean; destructive: destructive")
    assert "--allow-replace" in footer


def test_error_report_is_one_line_in_text_and_status_error_in_json():
    report = _report("error")
    assert pr.format_stack(report) == "== e: error\n  error: terraform init failed: x"
    assert report.to_json()["status"] == "error"


def test_json_document_shape():
    doc = pr.report_document([_report("drift")], "drift")
    assert doc["format_version"] == 1 and doc["exit_code"] == 2
    (stack,) = doc["stacks"]
    attr = next(a for a in stack["drift"][0]["attributes"] if a["path"] == "device_passthrough[0].gid")
    assert (attr["before"], attr["after"]) == (44, 45)
    gone = next(a for a in stack["drift"][0]["attributes"] if a["path"] == "idmap[5]")
    assert gone["after"] is None  # absent is null in JSON
    json.dumps(doc)  # serialisable


def test_a_null_list_element_appearing_is_a_difference():
    got = pr.diff_values({"a": []}, {"a": [None]})
    assert [(c.path, c.before, c.after) for c in got] == [("a[0]", pr.ABSENT, None)]


def test_refresh_only_output_changes_are_not_drift():
    # an output never applied yet shows as "create" in a refresh-only plan
    plan = {"output_changes": {"host_lines": {"actions": ["create"], "before": None, "after": "x"}}}
    report = pr.summarise_plan("s", plan, "drift")
    assert (report.status, report.outputs) == ("clean", ())


def test_refresh_that_only_turns_null_into_empty_collections_is_not_drift() -> None:
    """What bpg's read does to a container with no tags or env: Terraform lists it, nothing drifted."""
    entry = {"address": "proxmox_virtual_environment_container.ct", "type": "proxmox_virtual_environment_container",
             "change": {"actions": ["update"],
                        "before": {"tags": None, "environment_variables": None, "features": [{"mount": None}]},
                        "after": {"tags": [], "environment_variables": {}, "features": [{"mount": []}]}}}
    report = pr.summarise_plan("s", {"resource_drift": [entry]}, "drift")
    assert report.drift == ()
    entry["change"]["after"]["tags"] = ["gpu"]
    (changed,) = pr.summarise_plan("s", {"resource_drift": [entry]}, "drift").drift
    assert [a.path for a in changed.attributes] == ["tags"]


# --- ownership: the guard's collisions and orphans (recorded by tests/data/plans/record.py) -------


def test_a_clean_deployment_has_no_ownership_finding():
    for name in ("bpg-refresh-drift", "bpg-plan-drift", "bpg-refresh-deleted"):
        assert pr.summarise_plan("intel-jellyfin", load(name), "drift").ownership == (), name


def test_refresh_reports_the_failed_guard_and_the_orphan_with_their_fixes():
    report = pr.summarise_plan("intel-jellyfin", load("bpg-refresh-ownership"), "drift")
    collision, orphan = report.ownership
    assert (collision.kind, collision.address, collision.vmid) == ("collision", CONTAINER, 210)
    assert collision.problem.startswith("GpuContainer 'jellyfin' of stack 'intel-jellyfin': vm_id 210 is taken by "
                                        "container 'jellyfin' on node pve (tags: gpu;media), which this stack did not")
    assert collision.fix.startswith("give GpuContainer 'jellyfin' a vm_id that no container or VM")
    assert (orphan.kind, orphan.vmid, orphan.node, orphan.name) == ("orphan", 212, "pve", "old-jellyfin")
    assert orphan.problem.startswith("CT 212 ('old-jellyfin') on node pve carries this stack's tag "
                                     "pve-gpu-lxc.intel-jellyfin.old-jellyfin, but no container in the state has")
    assert orphan.fix.startswith("remove it on pve: `pct destroy 212`")
    # the tag removed by hand is drift too; the report says both, and a finding exits 2
    assert report.status == "drift" and pr.overall_exit_code([report]) == pr.EXIT_FINDING
    text = pr.format_stack(report)
    assert "  ownership (the guard's listing of the cluster's containers):\n" in text
    assert f"    collision: {CONTAINER}: GpuContainer 'jellyfin'" in text
    assert "    orphan: CT 212 ('old-jellyfin') on node pve" in text
    doc = pr.report_document([report], "drift")
    assert [f["kind"] for f in doc["stacks"][0]["ownership"]] == ["collision", "orphan"]


def test_ownership_findings_alone_exit_2_with_their_own_status():
    plan = load("bpg-refresh-ownership")
    plan["checks"] = []  # the orphan only
    report = pr.summarise_plan("intel-jellyfin", plan, "plan")
    assert report.changes == () and [f.kind for f in report.ownership] == ["orphan"]
    assert report.status == "ownership" and pr.overall_exit_code([report]) == pr.EXIT_FINDING
    assert pr.format_stack(report).startswith("== intel-jellyfin: ownership\n  no changes:")
    # another stack's tags are not this stack's orphans
    assert pr.summarise_plan("nvidia-ollama", plan, "drift").ownership == ()


def test_an_orphan_the_configuration_still_has_is_adopted_by_the_next_apply():
    plan = load("bpg-refresh-ownership")
    plan["checks"] = []
    plan["configuration"]["root_module"]["resources"].append(
        {"address": "proxmox_virtual_environment_container.old", "mode": "managed",
         "type": "proxmox_virtual_environment_container", "expressions": {"vm_id": {"constant_value": 212}}})
    (orphan,) = pr.summarise_plan("intel-jellyfin", plan, "plan").ownership
    assert "created by an apply that did not finish" in orphan.problem
    assert orphan.fix.startswith("the next deploy adopts it as proxmox_virtual_environment_container.old")


def test_the_guards_message_is_read_from_a_plan_it_stopped():
    (message,) = pr.precondition_messages((PLANS / "bpg-plan-guard.txt").read_text())
    assert message.startswith("GpuContainer 'jellyfin' of stack 'intel-jellyfin': vm_id 210 is taken by container "
                              "'jellyfin' on node pve (tags: gpu;media)")
    assert message.endswith("declare it with GpuContainer(..., import_existing=True).")
    assert pr.precondition_messages("Error: Invalid reference\n\n  on x line 1:\n\nsomething else\n") == []


# --- a tainted container (a create whose SSH idmap step died: pvesim faults.py) ----------------------

TAINTED_LINE = (f"  tainted: {CONTAINER}: an apply created it, then failed (e.g. bpg's idmap over SSH or the first "
                "reboot), so the next deploy REPLACES it; to keep it, run `terraform untaint "
                f"{CONTAINER}` in the stack's directory (cdktf.out/stacks/intel-jellyfin), then deploy: an update "
                "in place")


def test_a_tainted_container_is_drift_naming_the_lost_idmap_and_the_untaint_way_out():
    report = pr.summarise_plan("intel-jellyfin", load("bpg-refresh-tainted"), "drift")
    assert (report.status, report.tainted) == ("drift", (CONTAINER,))
    (diff,) = report.drift
    lost = {path: before for path, (before, after) in attrs(diff).items()
            if path.startswith("idmap") and after == pr.ABSENT}
    assert sorted(lost) == [f"idmap[{i}]" for i in range(6)]
    assert lost["idmap[4]"] == {"container_id": 106, "host_id": 108, "size": 1, "type": "gid"}
    assert TAINTED_LINE in pr.format_stack(report).splitlines()
    assert report.to_json()["tainted"] == [CONTAINER]


def test_tainted_alone_is_drift():
    plan = {"prior_state": {"values": {"root_module": {"resources": [], "child_modules": [
        {"resources": [{"address": "module.m.x.y", "tainted": True}, {"address": "module.m.x.z"}]}]}}}}
    report = pr.summarise_plan("s", plan, "drift")
    assert (report.status, report.tainted, report.drift) == ("drift", ("module.m.x.y",), ())
    assert pr.overall_exit_code([report]) == pr.EXIT_FINDING


def test_the_plan_of_a_tainted_container_is_a_destructive_replacement_saying_why():
    report = pr.summarise_plan("intel-jellyfin", load("bpg-plan-tainted"), "plan")
    (change,) = [c for c in report.changes if c.address == CONTAINER]
    assert (change.action, change.reason) == ("replace", "replace_because_tainted")
    assert report.status == "destructive" and pr.overall_exit_code([report]) == pr.EXIT_DESTRUCTIVE
    text = pr.format_stack(report).splitlines()
    assert TAINTED_LINE in text
    assert any(line.startswith(f"  !!! DESTRUCTIVE: {CONTAINER} will be REPLACED") for line in text)

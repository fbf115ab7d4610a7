"""pve_gpu_lxc.pve.oci: what pve-container's create makes of an OCI image (Create.pm restore_oci_archive,
resolve_oci_user; pve-common PVE/Cmd.pm to_string), and the same answer as the simulated node's own
implementation (pve_gpu_lxc_testing/pvesim/lxc_oci.py) on real archives built by umoci and skopeo,
read by the facts collector as on a node."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pve_gpu_lxc.facts import HostFacts, collector_script
from pve_gpu_lxc.pve import bpg, create, oci
from pve_gpu_lxc.pve import conf as pveconf
from pve_gpu_lxc_testing import ociimage
from pve_gpu_lxc_testing.ociimage import ImageConfig
from pve_gpu_lxc_testing.pvesim import lxc_oci

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/app:/bin/sh\nsvc:x:1000:50::/:\nnobody:x:65534:65534\n"
GROUP = "root:x:0:\nvideo:x:44:app,svc\nrender:x:993:app\napp:x:1000:\nstaff:x:50:\n"
CACHE = "var/lib/vz/template/cache"


# --- cmd2string: String::ShellQuote ------------------------------------------------------------------

SHELL_ARGS = ["/app/entry.sh", "a=b", "hello world", "it's", "x:y/z@1,2", "!%^+", "a*b", "", "a''b", "a'''b", "'",
              "''", "'a'", "--opt=1", "tab\there", "$HOME", "semi;colon", "-", "~user", "é", "x''''y"]


def test_shell_quote_is_string_shellquotes_per_argument():
    """Each argument quoted by itself (PVE::Cmd::to_string maps shell_quote over the list), with perl's
    strings decoded (-CA: proxmox-oci hands perl character strings)."""
    perl = subprocess.run(["perl", "-CAO", "-MString::ShellQuote", "-e",
                           'print join("\\n", map { shell_quote($_) } @ARGV), "\\n"', *SHELL_ARGS],
                          capture_output=True, text=True, check=True)
    assert [oci.shell_quote(a) for a in SHELL_ARGS] == perl.stdout.split("\n")[:-1]
    assert oci.cmd2string(["/app/entry.sh", "serve", "--name=x y"]) == "/app/entry.sh serve '--name=x y'"


# --- resolve_oci_user ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("user", "passwd", "group", "wanted"), [
    ("app", PASSWD, GROUP, ("1000", "1000", "44,993")),  # a name: uid, the passwd gid, every group naming it
    ("1000", PASSWD, GROUP, ("1000", "1000", "44,993")),  # a number: its first passwd name is the user's
    ("svc", PASSWD, GROUP, ("1000", "1000", "44")),  # the gid is the FIRST passwd line of that uid's
    ("app:staff", PASSWD, GROUP, ("1000", "50", None)),  # a group: looked up, and no supplementary groups
    ("app:7", PASSWD, GROUP, ("1000", "7", None)),
    ("4242:4242", None, None, ("4242", "4242", None)),  # numbers only: no file needed
    ("root", PASSWD, GROUP, ("0", "0", "")),  # in no group: defined but empty
    ("ghost", PASSWD, GROUP, (None, None, "")),  # unknown: no uid, no gid, empty groups (the name is defined)
    ("4242", PASSWD, GROUP, ("4242", None, None)),  # unknown uid: no name, so no groups
    ("app", None, GROUP, (None, None, "44,993")),  # no /etc/passwd in the image
    ("app", PASSWD, None, ("1000", "1000", None)),  # no /etc/group: groups undefined (open fails)
    ("nobody", PASSWD, GROUP, ("65534", "65534", "")),
    ("app:ghosts", PASSWD, GROUP, ("1000", None, None)),
])
def test_resolve_oci_user(user, passwd, group, wanted):
    resolved = oci.resolve_oci_user(user, passwd, group)
    assert (resolved.uid, resolved.gid, resolved.groups) == wanted


def test_resolve_oci_user_follows_perls_split():
    """split(/:/) drops trailing empty fields: a passwd line `x:x:5` has no gid, a group line `g:x:9:` no
    member list (skipped, even for a user named ``)."""
    assert oci.resolve_oci_user("x", "x:x:5\n", "g:x:9:\n") == oci.OciUser("5", None, "")


@pytest.mark.parametrize("user", ["a:b:c", ":x", "a:"])
def test_a_user_string_of_another_shape_fails_the_create(user):
    with pytest.raises(oci.OciConfigError, match=r"^OCI config value for 'User' has an invalid format$"):
        oci.ImageConfig.from_json({"config": {"User": user}})


# --- restore_oci_archive -----------------------------------------------------------------------------


def create_conf(**options: str) -> pveconf.PveConf:
    """A created container's config before the restore, as PVE printed its NICs."""
    base = {"arch": "amd64", "hostname": "app", "memory": "512", "ostype": "unmanaged", "swap": "512",
            "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:XX:XX:XX,type=veth", "cmode": "tty"}
    return pveconf.PveConf(options={**base, **options})


def restored(config: dict[str, Any], conf: pveconf.PveConf | None = None, **files: str) -> str:
    image = oci.ImageConfig.from_json({"config": config}, passwd=files.get("passwd"), group=files.get("group"))
    return pveconf.render(oci.restore_oci_archive(conf or create_conf(), image))


def test_the_test_images_config_gives_the_simulated_nodes_file():
    text = restored({"Entrypoint": ["/app/entry.sh"], "Cmd": ["report"], "User": "app", "WorkingDir": "/app",
                     "Env": ["PATH=/bin", "APP_MODE=image"], "StopSignal": "SIGINT", "Volumes": {"/data": {}}},
                    create_conf(env="MODE=user", entrypoint="/bin/sh -l"), passwd=PASSWD, group=GROUP)
    assert text == (
        "arch: amd64\ncmode: console\nentrypoint: /app/entry.sh report\nhostname: app\nmemory: 512\n"
        "net0: name=eth0,bridge=vmbr0,host-managed=1,hwaddr=BC:24:11:XX:XX:XX,type=veth\nostype: unmanaged\n"
        "swap: 512\nlxc.environment.runtime: PATH=/bin\nlxc.environment.runtime: APP_MODE=image\n"
        "lxc.init.uid: 1000\nlxc.init.gid: 1000\nlxc.init.groups: 44,993\nlxc.init.cwd: /app\n"
        "lxc.signal.halt: SIGINT\n")


def test_bpgs_host_managed_zero_is_kept_and_the_init_entrypoint_changes_nothing():
    conf = create_conf(net0="name=eth0,bridge=vmbr0,host-managed=0,hwaddr=BC:24:11:XX:XX:XX,type=veth",
                       entrypoint="/sbin/init --x", env="A=1")
    assert restored({"Cmd": ["/app/x"]}, conf).splitlines()[:3] == [
        "arch: amd64", "cmode: console", "entrypoint: /app/x"]
    assert "host-managed=0," in restored({"Cmd": ["/app/x"]}, conf)
    # /sbin/init first: entrypoint, cmode and the NICs as the request had them; an image without Env keeps env
    assert restored({"Entrypoint": ["/sbin/init"], "Cmd": ["--log"]}, conf) == pveconf.render(
        pveconf.PveConf(options=conf.options, lxc=[("lxc.signal.halt", "SIGTERM")]))


KEPT = "lxc.environment.runtime: KEPT=1"  # the request's env, which an image without Env leaves


@pytest.mark.parametrize(("config", "lines"), [
    ({}, [KEPT, "lxc.signal.halt: SIGTERM"]),  # nothing: the default stop signal only
    ({"Env": []}, ["lxc.signal.halt: SIGTERM"]),  # an empty Env still replaces the request's env (with nothing)
    ({"User": "0"}, [KEPT, "lxc.signal.halt: SIGTERM"]),  # "0" is false to perl: not resolved
    ({"User": "", "WorkingDir": "0"}, [KEPT, "lxc.signal.halt: SIGTERM"]),
    ({"StopSignal": ""}, [KEPT, "lxc.signal.halt: "]),  # `// "SIGTERM"`: only an absent one is defaulted
    ({"User": "1000:993", "WorkingDir": "/srv"}, [KEPT, "lxc.init.uid: 1000", "lxc.init.gid: 993",
                                                   "lxc.init.cwd: /srv", "lxc.signal.halt: SIGTERM"]),
])
def test_each_key_as_perl_reads_it(config, lines):
    text = restored(config, create_conf(env="KEPT=1"))
    assert [line for line in text.splitlines() if line.startswith("lxc.")] == lines


@pytest.mark.parametrize(("config", "message"), [
    ({"Entrypoint": ["/bin/a\x01"]}, "OCI config array-value for 'Entrypoint' contains forbidden control characters!"),
    ({"User": "app\x7f"}, "OCI config value for 'User' contains forbidden control characters!"),
    ({"Volumes": {"/da\x1bta": {}}}, "OCI config data-volumes path contains forbidden control characters!"),
    ({"Env": "A=1"}, "Error while parsing OCI image: Env is not a list of strings"),
])
def test_what_makes_the_create_fail(config, message):
    with pytest.raises(oci.OciConfigError) as err:
        oci.ImageConfig.from_json({"config": config})
    assert str(err.value) == message


def test_tab_to_0x0f_pass_the_check_as_written():
    image = oci.ImageConfig.from_json({"config": {"Cmd": ["/bin/a\tb"]}})
    assert oci.restore_oci_archive(create_conf(), image).options["entrypoint"] == "'/bin/a\tb'"


def test_the_hookscripts_values_replace_entrypoint_and_env_and_nothing_else():
    image = oci.ImageConfig.from_json({"config": {"Cmd": ["/app/x"], "Env": ["A=1"], "User": "0:0"}})
    created = oci.restore_oci_archive(create_conf(), image)
    created.lxc.append(("lxc.idmap", "u 0 100000 65536"))
    after = pveconf.render(oci.app_config_written(created, oci.AppConfig("/app/x serve", (("B", "2"), ("C", "3")))))
    assert after == pveconf.render(created).replace("entrypoint: /app/x\n", "entrypoint: /app/x serve\n").replace(
        "lxc.environment.runtime: A=1\n", "lxc.environment.runtime: B=2\nlxc.environment.runtime: C=3\n")
    assert "lxc.environment" not in pveconf.render(oci.app_config_written(created, oci.AppConfig("/app/x")))


# --- the same as the simulated node, on real archives read by the collector -------------------------------

VARIANTS = {
    "1.0": ociimage.APP_IMAGE,
    "init": ImageConfig(entrypoint=("/sbin/init",), cmd=("--log-target=console",)),
    "numeric": ImageConfig(cmd=("/app/entry.sh", "it's", "a b"), user="1000:993", stop_signal="SIGQUIT"),
    "root": ImageConfig(entrypoint=("/app/entry.sh",), user="root", workdir="/"),
    "nouser": ImageConfig(entrypoint=("/app/entry.sh",), user="ghost"),
    "byuid": ImageConfig(entrypoint=("/app/entry.sh",), user="1000", env=("PATH=/bin",)),
    "bygroup": ImageConfig(entrypoint=("/app/entry.sh",), user="app:render"),
}


@pytest.fixture(scope="module")
def recorded(oci_layout: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, HostFacts]:
    """Every variant pulled into a fake node's template cache, and the facts the collector records there."""
    root = tmp_path_factory.mktemp("oci-node") / "root"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/hostname").write_text("pve\n")
    for tag, config in VARIANTS.items():
        if tag != ociimage.TAG:
            ociimage.tag_variant(oci_layout, f"x{tag}", config)
        ociimage.oci_archive(oci_layout, tag if tag == ociimage.TAG else f"x{tag}", root / CACHE / f"app_{tag}.tar")
    result = subprocess.run(["sh", str(collector_script()), str(root)], capture_output=True, text=True, check=True,
                            timeout=120)
    return root, HostFacts.from_json(json.loads(result.stdout), source="collector")


@pytest.mark.parametrize("tag", list(VARIANTS))
@pytest.mark.parametrize("net0", ["name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,type=veth",
                                  "name=eth0,bridge=vmbr0,host-managed=0,hwaddr=BC:24:11:00:00:01,type=veth"])
def test_the_product_and_the_simulated_node_write_the_same_file(recorded, tmp_path, tag, net0):
    root, facts = recorded
    template = facts.template(f"local:vztmpl/app_{tag}.tar")
    assert template is not None and template.oci is not None and template.oci.error is None
    request = {"net0": net0, "entrypoint": "/bin/sh -l", "env": "MODE=user"}

    def created() -> pveconf.PveConf:
        return create_conf(**request)

    simulated = lxc_oci.restore_oci_archive(root / CACHE / f"app_{tag}.tar", tmp_path, created(), lambda _: None)
    image = oci.ImageConfig.from_json(template.oci.config or "", passwd=template.oci.passwd, group=template.oci.group)
    assert pveconf.render(oci.restore_oci_archive(created(), image)) == pveconf.render(simulated)


# --- bpg's request and PVE's create around it ------------------------------------------------------------

def test_bpg_sends_entrypoint_and_env_sorted_and_the_create_keeps_them_for_a_system_template():
    body = {"vm_id": 300, "node_name": "pve", "initialization": [{"hostname": "app", "entrypoint": "/bin/app -v"}],
            "environment_variables": {"ZED": "1", "APP_MODE": "user", "A_B": "x y"},
            "operating_system": [{"template_file_id": "${x.y.id}", "type": "unmanaged"}]}
    request = bpg.create_request(body, template="local:vztmpl/app_1.0.tar")
    assert request.params["env"] == "APP_MODE=user\0A_B=x y\0ZED=1" and request.params["entrypoint"] == "/bin/app -v"
    assert request.params["ostemplate"] == "local:vztmpl/app_1.0.tar" and request.unmodelled == ()
    text = create.created_conf(request).text
    assert "entrypoint: /bin/app -v\n" in text
    assert text.endswith("lxc.environment.runtime: APP_MODE=user\nlxc.environment.runtime: A_B=x y\n"
                         "lxc.environment.runtime: ZED=1\n")
    image = oci.ImageConfig.from_json({"config": {"Cmd": ["/app/run"], "Env": ["PATH=/bin"], "User": "0:0"}})
    after = create.created_conf(request, image, oci.AppConfig("/bin/app -v", (("APP_MODE", "user"),))).text
    assert after.endswith("lxc.environment.runtime: APP_MODE=user\nlxc.init.uid: 0\nlxc.init.gid: 0\n"
                          "lxc.signal.halt: SIGTERM\n")
    assert "entrypoint: /bin/app -v\n" in after and "cmode: console\n" in after

"""Wrong types anywhere in the public API raise ValidationError, never anything else.

A property test throws random keyword values (well over 10,000 in all, counted below) at
GpuContainer, the GPU presets, Template.*, IdMap.passthrough, Device, Hooks and the
values GpuContainer takes (Disk, Network, Features) and at ProxmoxSsh/ProxmoxProvider.
Each value is either a valid one or junk of any type (None, bools, huge ints, floats,
text, bytes, bare objects, nested lists, tuples, dicts, sets).  The only exception allowed
is ValidationError.  Most examples stop in the pure props validation; GpuContainer builds
real constructs whenever the values happen to be valid.

The explicit cases at the end pin the messages for the mistakes the issue names.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from pve_gpu_lxc.engine import TerraformStack
from pve_gpu_lxc.engine import Testing as CdktfTesting  # renamed: pytest would try to collect `Testing*`
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pve_gpu_lxc import (
    AmdGpu,
    Device,
    Disk,
    Features,
    GpuContainer,
    Hooks,
    IdMap,
    IntelGpu,
    Network,
    NvidiaGpu,
    NvidiaImage,
    ProxmoxProvider,
    ProxmoxSsh,
    Template,
    ValidationError,
)

UBUNTU = Template.existing("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
IMAGE = NvidiaImage(nvidia_driver="575.64.03", source_url="file:///tmp/rootfs.tar.xz")
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck))

# --------------------------------------------------------------------------- values

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=24),
    st.binary(max_size=8),
    st.builds(object),
    st.sampled_from(["", "0660", "575.64.03", "/dev/null", "/dev/dri/renderD128", "dhcp", "local",
                     "local:vztmpl/x.tar.zst", "0000:00:02.0", "\x00", "../../etc/passwd", "pve", "root"]),
)
JUNK = st.one_of(
    _scalars,
    st.lists(_scalars, max_size=3),
    st.tuples(_scalars, _scalars),
    st.dictionaries(st.one_of(st.text(max_size=6), st.integers(-3, 300)), _scalars, max_size=2),
    st.frozensets(st.integers(-3, 300), max_size=3),
)


Keywords = st.SearchStrategy[tuple[dict[str, Any], int]]


def keywords(required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]],
             unknown: bool = False) -> Keywords:
    """All required keywords plus a random subset of the optional ones (and sometimes a made-up one).

    Each example draws how much junk it carries (none, a little, a quarter, half of its values),
    so some examples are all valid (they build real objects) and checks late in the order are
    reached with junk too.  Gives the keywords and how many of their values are junk.
    """
    extra = {"no_such_prop": JUNK} if unknown else {}

    @st.composite
    def build(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
        sixteenths = draw(st.sampled_from([0, 1, 4, 8]))
        values: dict[str, Any] = {}
        junk = 0
        for name, strategy in {**required, **optional, **extra}.items():
            if name not in required and not draw(st.integers(0, 2)):  # two in three optional keywords given
                continue
            if name in extra or draw(st.integers(0, 15)) < sixteenths:
                values[name] = draw(JUNK)
                junk += 1
            else:
                values[name] = draw(strategy)
        return values, junk

    return build()


class Thrown:
    """How many keyword values a test threw, and how many of them were junk."""

    def __init__(self) -> None:
        self.values = 0
        self.junk = 0


def run(target: Callable[..., object], strategy: Keywords, examples: int, thrown: Thrown) -> None:
    """Call `target(**kwargs)` for `examples` random keyword sets, counting the values into `thrown`."""

    @settings(max_examples=examples, **SETTINGS)
    @given(strategy)
    def check(example: tuple[dict[str, Any], int]) -> None:
        kwargs, junk = example
        thrown.values += len(kwargs)
        thrown.junk += junk
        try:
            target(**kwargs)
        except ValidationError:
            pass

    check()


_gids = st.one_of(st.none(), st.integers(0, 65535))
_gpus = st.lists(st.sampled_from([IntelGpu(), IntelGpu(card=None, render=129), AmdGpu(rocm=True),
                                  NvidiaGpu(driver_version="575.64.03")]), max_size=2)
CONTAINER_REQUIRED = {
    "node_name": st.sampled_from(["pve", "pve2"]),
    "vm_id": st.integers(100, 100_000),
    "hostname": st.sampled_from(["ct", "jellyfin.lan"]),
    "template": st.sampled_from([UBUNTU, Template.existing("local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst")]),
}
CONTAINER_OPTIONAL = {
    "gpus": _gpus,
    "devices": st.lists(st.builds(Device, st.sampled_from(["/dev/net/tun", "/dev/fuse"])), max_size=2),
    "cores": st.integers(1, 128),
    "memory_mib": st.integers(16, 65536),
    "swap_mib": st.integers(0, 4096),
    "disk": st.builds(Disk, size_gib=st.integers(1, 100)),
    "network": st.one_of(st.none(), st.builds(Network)),
    "ssh_keys": st.just(["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0 a@b"]),
    "tags": st.lists(st.sampled_from(["gpu", "media"]), max_size=2),
    "description": st.one_of(st.none(), st.text(max_size=30)),
    "start_on_boot": st.booleans(),
    "started": st.booleans(),
    "unprivileged": st.booleans(),
    "features": st.builds(Features, fuse=st.booleans()),
    "idmap": st.one_of(st.none(), st.just(IdMap.passthrough(gids={44: 44}))),
    "hooks": st.one_of(st.none(), st.just(Hooks(post_start=[["/bin/true"]]))),
    "snippets_datastore_id": st.just("local"),
    "host_facts": st.none(),
}


# --------------------------------------------------------------------------- the properties


def test_gpu_container_raises_only_validation_errors() -> None:
    built = 0

    def container(**kwargs: Any) -> object:
        nonlocal built
        made = GpuContainer(TerraformStack(CdktfTesting.app(), "s"), "ct", **kwargs)  # a fresh app: VMIDs are free
        built += 1
        return made

    thrown = Thrown()
    run(container, keywords(CONTAINER_REQUIRED, CONTAINER_OPTIONAL, unknown=True), 700, thrown)
    assert (thrown.values, thrown.junk) >= (8_000, 1_500)
    assert built >= 50  # all-valid examples build real constructs too


def test_gpu_presets_raise_only_validation_errors() -> None:
    drm = {"card": st.one_of(st.none(), st.integers(0, 4)), "render": st.integers(128, 140),
           "mode": st.sampled_from(["0660", "0666"]), "pci": st.one_of(st.none(), st.just("0000:00:02.0")),
           "product_id": st.one_of(st.none(), st.integers(0, 0xFFFF))}
    nvidia = {"index": st.integers(0, 7), "uvm_tools": st.booleans(), "modeset": st.booleans(),
              "caps": st.lists(st.integers(1, 4), max_size=2), "ensure_nodes": st.booleans(),
              "pci": st.one_of(st.none(), st.just("0000:01:00.0")), "product_id": st.none()}
    thrown = Thrown()
    run(IntelGpu, keywords({}, drm), 300, thrown)
    run(AmdGpu, keywords({}, {**drm, "rocm": st.booleans()}), 300, thrown)
    run(NvidiaGpu, keywords({"driver_version": st.just("575.64.03")}, nvidia), 300, thrown)
    assert (thrown.values, thrown.junk) >= (2_500, 500)


def test_templates_raise_only_validation_errors(tmp_path: Any) -> None:
    common = {"render_gid": _gids, "video_gid": _gids, "os_type": st.sampled_from(["ubuntu", "debian"])}
    thrown = Thrown()
    run(Template.existing, keywords({"volid": st.just("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst")},
                                    {**common, "template_file": st.none()}), 250, thrown)
    run(Template.download, keywords({"url": st.just("https://example.org/images/debian-13-standard_13.1-2_amd64.tar.zst")},
                                    {**common, "checksum": st.just("a" * 64), "checksum_algorithm": st.just("sha256"),
                                     "datastore_id": st.just("local"), "template_file": st.none()}), 250, thrown)
    run(Template.upload, keywords({"source_file": st.just(str(tmp_path / "built.tar.xz"))},
                                  {**common, "checksum": st.just("b" * 64), "file_name": st.just("x.tar.xz"),
                                   "datastore_id": st.just("local"), "image": st.just(IMAGE),
                                   "nvidia_driver": st.just("575.64.03")}), 250, thrown)
    assert (thrown.values, thrown.junk) >= (2_000, 400)


def test_idmap_device_and_hooks_raise_only_validation_errors() -> None:
    holes = st.dictionaries(st.integers(0, 65535), st.integers(0, 200_000), max_size=3)
    argv = st.lists(st.lists(st.sampled_from(["/usr/bin/logger", "x"]), min_size=1, max_size=2), max_size=2)
    thrown = Thrown()
    run(IdMap.passthrough, keywords({}, {"uids": holes, "gids": holes, "host_base": st.just(100_000),
                                         "size": st.just(65536)}), 250, thrown)
    run(Device, keywords({"path": st.sampled_from(["/dev/net/tun", "/dev/dri/renderD128"])},
                         {"uid": st.integers(0, 65535), "gid": _gids, "group": st.sampled_from(["render", None]),
                          "mode": st.just("0660"), "deny_write": st.booleans()}), 250, thrown)
    run(Hooks, keywords({}, {"pre_start": argv, "post_start": argv, "pre_stop": argv, "post_stop": argv}), 250, thrown)
    assert (thrown.values, thrown.junk) >= (1_500, 300)


def test_container_values_and_the_provider_raise_only_validation_errors() -> None:
    thrown = Thrown()
    run(Disk, keywords({}, {"datastore_id": st.just("local-lvm"), "size_gib": st.integers(1, 64)}), 100, thrown)
    run(Network, keywords({}, {"bridge": st.just("vmbr0"), "ipv4": st.just("10.0.0.5/24"),
                               "gateway": st.just("10.0.0.1"), "vlan_id": st.integers(1, 4094),
                               "firewall": st.booleans(), "name": st.just("eth0")}), 150, thrown)
    run(Features, keywords({}, {"nesting": st.booleans(), "keyctl": st.booleans(), "fuse": st.booleans(),
                                "mknod": st.booleans(), "mount": st.just(("nfs",))}), 100, thrown)
    run(ProxmoxSsh, keywords({}, {"username": st.just("root"), "agent": st.booleans(),
                                  "node_addresses": st.just({"pve": "10.0.0.1:22"}),
                                  "node_address_source": st.sampled_from(["api", "dns"])}), 100, thrown)
    app = CdktfTesting.app()
    stacks = itertools.count()

    def provider(**kwargs: Any) -> object:
        return ProxmoxProvider(TerraformStack(app, f"p{next(stacks)}"), "proxmox", **kwargs)

    run(provider, keywords({}, {"endpoint": st.just("https://pve.lan:8006/"), "insecure": st.booleans(),
                                "ssh": st.one_of(st.none(), st.just(ProxmoxSsh())), "environ": st.just({})}),
        100, thrown)
    assert (thrown.values, thrown.junk) >= (1_000, 200)


# --------------------------------------------------------------------------- the named mistakes


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(template="local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"),
         "GpuContainer 'test/ct': template must be a Template (Template.existing('local:vztmpl/<file>'), "
         "Template.download(...) or Template.upload(...)), got 'local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst'"),
        (dict(disk={"size_gib": 32}), "GpuContainer 'test/ct': disk must be a Disk (e.g. Disk(size_gib=32)), got dict {'size_gib': 32}"),
        (dict(network="vmbr0"),
         "GpuContainer 'test/ct': network must be a Network (e.g. Network(bridge='vmbr0')) or None for no NIC, got 'vmbr0'"),
        (dict(features={"nesting": True}),
         "GpuContainer 'test/ct': features must be a Features (e.g. Features(fuse=True)), got dict {'nesting': True}"),
        (dict(description=42), "GpuContainer 'test/ct': description must be a string or None, got int 42"),
        (dict(gpus=IntelGpu()), "GpuContainer 'test/ct': gpus must be a list of GPU presets (IntelGpu, AmdGpu, NvidiaGpu), "
                                "got IntelGpu IntelGpu(card=0, render=128, mode='0660', pci=None, product_id=None)"),
        (dict(cores=2.5), "GpuContainer 'test/ct': cores must be an integer in 1..128, got float 2.5"),
    ],
)
def test_the_named_mistakes_name_construct_prop_type_and_what_is_allowed(stack: Any, overrides: dict, message: str) -> None:
    props = dict(node_name="pve", vm_id=200, hostname="ct", template=UBUNTU) | overrides
    with pytest.raises(ValidationError) as err:
        GpuContainer(stack, "ct", **props)
    assert str(err.value) == message


def test_missing_props_and_the_props_object_of_another_type(stack: Any) -> None:
    with pytest.raises(ValidationError, match=r"^GpuContainer 'test/ct': props missing required keyword arguments "
                                              r"'hostname', 'template'"):
        GpuContainer(stack, "ct", node_name="pve", vm_id=200)  # type: ignore[call-overload]
    with pytest.raises(ValidationError, match=r"^GpuContainer 'test/a': props must be a GpuContainerProps .*got dict"):
        GpuContainer(stack, "a", {"node_name": "pve"})  # type: ignore[call-overload]


def test_a_bug_inside_the_library_is_not_reworded(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """There is no `except TypeError` any more: a genuine bug surfaces as itself."""
    import pve_gpu_lxc.cdk.container as container

    def broken(props: object, **_: object) -> object:
        raise TypeError("a genuine bug")

    monkeypatch.setattr(container, "build_model", broken)
    with pytest.raises(TypeError, match="a genuine bug"):
        GpuContainer(stack, "ct", node_name="pve", vm_id=200, hostname="ct", template=UBUNTU)

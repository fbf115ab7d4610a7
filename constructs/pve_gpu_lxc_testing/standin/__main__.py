"""`python -m pve_gpu_lxc_testing.standin [--dev]`: serve the stand-in bpg/proxmox provider."""

import importlib.util
import sys
import types


def _bare_product_package() -> None:
    """Make `pve_gpu_lxc.l1.schema` importable without running `pve_gpu_lxc/__init__.py`.

    The product's package imports cdktf, which starts a jsii/node kernel (slow, and it
    may print to stdout, the plugin handshake channel).  The provider process needs
    only the schema data module, so it gets the package as a bare namespace.
    """
    if "pve_gpu_lxc" in sys.modules:
        return
    spec = importlib.util.find_spec("pve_gpu_lxc")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pve_gpu_lxc is not importable: run the stand-in with the project's virtualenv")
    package = types.ModuleType("pve_gpu_lxc")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["pve_gpu_lxc"] = package


if __name__ == "__main__":
    _bare_product_package()
    from .server import main

    main()

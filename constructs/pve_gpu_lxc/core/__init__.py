"""Bottom layer: what every other layer may use, importing none of them.

errors  ValidationError, the one exception type for bad input
rules   the value rules model, facts and image share (ints, bools, sequences, driver versions)
files   the one file digest (sha256)
names   the names and paths a PVE node accepts (vmid, storage id, node name, device path, ...)
nvidia_nodes  NVIDIA's device node names, shared by the model, facts, host-setup and check
nvidia_pin  the hookscript's NVIDIA driver pin line: the model writes it, pve.synthesized reads it back
"""

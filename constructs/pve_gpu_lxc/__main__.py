"""`python -m pve_gpu_lxc drift ...`: the same as the `pve-gpu-lxc` console script."""

import sys

from .cli import main

sys.exit(main())

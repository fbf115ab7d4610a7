#!/usr/bin/env python
"""CDKTF app entry point: builds the example stacks and synthesizes them.

The output directory comes from CDKTF_OUTDIR (set by `cdktf synth`), else cdktf.out.
Invalid input exits with status 1 and the message, without a traceback.
"""

import sys

from pve_gpu_lxc import ValidationError
from pve_gpu_lxc.engine import App
from stacks import add_all


def main() -> int:
    app = App()
    try:
        add_all(app)
        app.synth()
    except ValidationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except RuntimeError as err:  # construct validations are raised through jsii
        if "Validation failed" not in str(err):
            raise
        print(f"error: {str(err).strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

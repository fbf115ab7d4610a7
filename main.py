#!/usr/bin/env python
"""CDKTF app entry point: builds the example stacks and synthesizes them.

The output directory comes from CDKTF_OUTDIR (set by `cdktf synth`), else cdktf.out.
"""

from cdktf import App

from stacks import add_all


def main() -> None:
    app = App()
    add_all(app)
    app.synth()


if __name__ == "__main__":
    main()

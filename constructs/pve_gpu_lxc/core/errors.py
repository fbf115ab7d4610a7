"""The one exception type the library raises for bad input."""

from __future__ import annotations


class ValidationError(ValueError):
    """Invalid input, detected before anything reaches Terraform or Proxmox.

    Messages say what is wrong in the user's terms, the value received, what is
    allowed and how to fix it.  Constructs prefix the construct path.
    """

"""The plan report of `pve-gpu-lxc drift`: parse (plan JSON -> report), diff, format (pure).

report  AttributeChange, ResourceDiff, StackReport: what drifted or changes
parse   `terraform show -json` output -> StackReport, sensitive values hidden
diff    leaf-level differences between attribute trees
format  text for people, the `--json` document for pipelines
ownership  vm_id collisions the guard reported and orphaned containers of the stack

The exit code of a set of reports is the CLI's one policy (`cli/exit_codes.py`), re-exported here.
"""

from ..exit_codes import EXIT_DESTRUCTIVE, EXIT_ERROR, EXIT_FINDING, EXIT_OK, overall_exit_code
from .diff import diff_values
from .format import format_footer, format_stack, format_value, report_document
from .ownership import OwnershipFinding, ownership_findings, precondition_messages
from .parse import sensitive_strings, summarise_plan
from .report import ABSENT, SENSITIVE, UNKNOWN, AttributeChange, Mode, ResourceDiff, StackReport

__all__ = [
    "ABSENT",
    "EXIT_DESTRUCTIVE",
    "EXIT_ERROR",
    "EXIT_FINDING",
    "EXIT_OK",
    "SENSITIVE",
    "UNKNOWN",
    "AttributeChange",
    "Mode",
    "OwnershipFinding",
    "ResourceDiff",
    "StackReport",
    "diff_values",
    "format_footer",
    "format_stack",
    "format_value",
    "overall_exit_code",
    "ownership_findings",
    "precondition_messages",
    "report_document",
    "sensitive_strings",
    "summarise_plan",
]

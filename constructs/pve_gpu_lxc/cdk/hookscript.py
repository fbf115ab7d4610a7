"""HookScript: uploads a generated hookscript as a snippet for `hook_script_file_id`.

The script's text is the model's (`model/hooks.py`); this construct only puts it on the node.
"""

from __future__ import annotations

from ..engine import Construct
from ..l1.generated import FileSourceRaw, VirtualEnvironmentFile
from ..pve.synthesized import escape_literal


class HookScript(Construct):
    """One `proxmox_virtual_environment_file` (content type snippets, mode 0700).

    `file_id` is the volume id (`local:snippets/<file>`) to reference.
    """

    def __init__(
        self, scope: Construct, id: str, *, node_name: str, datastore_id: str, file_name: str, content: str
    ) -> None:
        super().__init__(scope, id)
        self.content = content
        self.resource = VirtualEnvironmentFile(
            self,
            "Default",
            node_name=node_name,
            datastore_id=datastore_id,
            content_type="snippets",
            file_mode="0700",  # root-only: PVE executes it as root
            source_raw=FileSourceRaw(data=escape_literal(content), file_name=file_name),
        )

    @property
    def file_id(self) -> str:
        return self.resource.id_ref

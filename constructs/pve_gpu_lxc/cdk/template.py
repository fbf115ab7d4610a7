"""The template on the node: the stack's shared download, upload or pull resource for a Template value.

A downloaded template is one `proxmox_download_file` per stack, node and file (with a
`moved` block from the deprecated type name `proxmox_virtual_environment_download_file`
that earlier versions emitted); an uploaded one is one `proxmox_virtual_environment_file`;
an OCI image is one `proxmox_oci_image` (PVE's oci-registry-pull, PVE >= 9.1).
Which containers may share one is the model's rule (`model/app.py`); this module only
creates the resource the first time and hands out its id afterwards.
"""

from __future__ import annotations

from ..engine import TerraformStack
from ..l1.generated import DownloadFile, FileSourceFile, OciImage, VirtualEnvironmentFile
from ..model.app import Admission
from ..model.template import Template, TemplateBinding
from ..pve.synthesized import LEGACY_DOWNLOAD_FILE_TYPE
from .app_state import AppState


def template_file_id(state: AppState, stack: TerraformStack, stack_key: str, template: Template,
                     admission: Admission) -> str:
    """The `template_file_id` of an admitted container: the volume id, or the shared resource's id."""
    binding = admission.template
    if binding is None:
        assert template.volid is not None  # an existing template always has its volume id
        return template.volid
    key = (stack_key, binding.key)
    if admission.template_is_new:
        state.template_resources[key] = template_resource(stack, binding)
    return state.template_resources[key].id_ref


TemplateResource = DownloadFile | VirtualEnvironmentFile | OciImage


def template_resource(stack: TerraformStack, binding: TemplateBinding) -> TemplateResource:
    """The L1 resource that puts the template on its node."""
    t = binding.template
    if binding.kind == "oci":
        assert t.reference is not None  # Template.oci sets it
        return OciImage(stack, binding.key, node_name=binding.node_name, datastore_id=t.datastore_id,
                        reference=t.reference, file_name=t.file_name)
    if binding.kind == "upload":
        assert t.source_file is not None and t.checksum is not None  # Template.upload sets both
        return VirtualEnvironmentFile(
            stack, binding.key, node_name=binding.node_name, datastore_id=t.datastore_id, content_type="vztmpl",
            source_file=FileSourceFile(path=t.source_file, checksum=t.checksum, file_name=t.file_name),
        )
    assert t.url is not None  # Template.download sets it
    resource = DownloadFile(
        stack, binding.key, node_name=binding.node_name, datastore_id=t.datastore_id, content_type="vztmpl",
        url=t.url, file_name=t.file_name, checksum=t.checksum, checksum_algorithm=t.checksum_algorithm,
    )
    # stacks synthesized before the switch to the current type name keep their state:
    # bpg moves it (no re-download, no delete of the file); a no-op for new stacks.
    # Needs Terraform >= 1.8 or OpenTofu >= 1.10 (moves between resource types).
    resource.move_from_id(f"{LEGACY_DOWNLOAD_FILE_TYPE}.{binding.key}")
    return resource

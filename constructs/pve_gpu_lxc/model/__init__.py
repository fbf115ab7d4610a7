"""The pure model: every rule about a container and an app, no cdktf import.

props          GpuContainerProps, Disk, Network, Features (each field type-checked)
template       the Template value (existing, download, upload) and the resource it needs per node
template_gids  the render/video GIDs of known templates, and /etc/group read from a tarball
devices        Device, and resolving group roles to GIDs
gpus           IntelGpu, AmdGpu, NvidiaGpu, and selecting them through host facts
idmap          IdMap: complete lxc.idmap arithmetic
hooks          Hooks and the hookscript text
auth           which credentials the provider will use, and what GPU containers need of them
provider       ProxmoxSsh and the provider's settings; backend: the state backend's rules
validation     value rules of ids, names, modes and device paths
container      build_model -> ContainerModel: every per-container rule
app            AppModel: the rules that need the app's other containers (VMIDs, shared templates)
"""

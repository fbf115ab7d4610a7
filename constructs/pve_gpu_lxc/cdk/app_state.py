"""The library's app-wide state, kept in the construct tree: one child of the App.

`AppState` holds the pure `AppModel` (VM ids, template bindings: the rules) and what the
constructs share per stack (the settings of the stack's ProxmoxProvider, its template
resources).  It
lives and dies with its App: nothing is kept in module globals, so an App that is no
longer referenced leaves nothing behind in this library (tests/test_app_state.py builds
200 Apps to show it).

Finding the state of a scope costs a few engine (jsii) calls; `context(scope)` remembers
it on the scope object itself, so a stack full of containers looks it up once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from ..core.errors import ValidationError
from ..engine import Construct, TerraformStack
from ..model.app import AppModel
from ..model.provider import ProviderSettings

if TYPE_CHECKING:
    from ..l1.generated import DownloadFile, OciImage, VirtualEnvironmentFile

STATE_ID = "pve-gpu-lxc"  # the child's construct id under the App (it emits nothing)
_CONTEXT_ATTRIBUTE = "_pve_gpu_lxc_context"


class AppState(Construct):
    """The app-wide state of the pve-gpu-lxc constructs (a child of the App; emits nothing)."""

    def __init__(self, scope: Construct, id: str = STATE_ID) -> None:
        super().__init__(scope, id)
        self.app = AppModel()
        self.providers: dict[str, ProviderSettings] = {}  # stack path -> its first ProxmoxProvider's settings
        self.template_resources: dict[tuple[str, str], DownloadFile | VirtualEnvironmentFile | OciImage] = {}
        self.listings: dict[str, str] = {}  # stack path -> the address of the guard's listing

    def provider_of(self, stack_key: str) -> ProviderSettings | None:
        return self.providers.get(stack_key)

    def register_provider(self, stack_key: str, settings: ProviderSettings) -> None:
        """A stack's first ProxmoxProvider is the one its containers are checked against."""
        self.providers.setdefault(stack_key, settings)


@dataclass(frozen=True)
class ScopeContext:
    """What a construct needs to know about where it is added: the app state and the stack."""

    state: AppState
    stack: TerraformStack
    stack_key: str  # the stack's construct path
    stack_id: str  # the stack's id, for messages


def context(scope: Construct) -> ScopeContext:
    """The app state and the stack of `scope` (created on first use; remembered on the scope)."""
    cached = getattr(scope, _CONTEXT_ATTRIBUTE, None)
    if isinstance(cached, ScopeContext):
        return cached
    root = scope.node.root
    state = root.node.try_find_child(STATE_ID)
    if state is None:
        state = AppState(cast(Construct, root))  # the root of a construct tree is a Construct (the App)
    if not isinstance(state, AppState):
        raise ValidationError(
            f"the App has a child named {STATE_ID!r} that is not pve-gpu-lxc's state; rename that construct"
        )
    stack = TerraformStack.of(scope)
    found = ScopeContext(state=state, stack=stack, stack_key=stack.node.path, stack_id=stack.node.id)
    try:
        setattr(scope, _CONTEXT_ATTRIBUTE, found)
    except AttributeError:  # an engine proxy that takes no attributes: look it up again next time
        pass
    return found


class ConstructPath:
    """The construct path of child `id` of `scope`, computed when a message needs it (it costs jsii calls)."""

    def __init__(self, scope: Construct, id: str) -> None:
        self._scope = scope
        self._id = id
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = f"{self._scope.node.path}/{self._id}".lstrip("/")
        return self._text


def in_construct(kind: str, path: object, err: ValidationError) -> ValidationError:
    """An error of the model, prefixed with the construct that received the bad value."""
    return ValidationError(f"{kind} '{path}': {err}")

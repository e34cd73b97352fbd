"""The registry's declarations as discord.py application commands.

`plan` decides the shape (pure, from the registry alone): which declarations are slash commands
and under which names, and which are context menus. `build_tree` turns the plan into
`app_commands` objects whose callbacks hand every invocation to the shell, so the command tree
holds no forum logic: discord.py still validates names, limits and option types, converts the
options, and routes autocomplete.

Discord's rules shape the plan; the naming ones live in `Registry.slash_names` (help shows the
same names), the rest here:

* a command with subcommands cannot be invoked itself, so a declaration that is also a group
  (`profile` next to `profile set`) is exposed as a subcommand called `show` (`/profile show`);
* three-word paths become a subcommand in a subcommand group (`/mod case claim`);
* a declaration that needs a target message (`like`) has no slash form, only its context menu;
* a member parameter is Discord's user picker (which has no autocomplete); other parameters
  whose declaration names a suggestion source (threads, members, countries) autocomplete;
* a context menu carries no options, so a declaration that needs more than its target
  ("Report message" needs a category) answers with a modal asking for the rest (`menu_form`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Union

import discord
from discord import app_commands

from chatbridge.model import Form, FormField
from chatbridge.registry import CommandSpec, ParamSpec, Registry
from chatbridge.services.autocomplete import SOURCES

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 100
MAX_CHILDREN = 25
GUILD_ONLY = app_commands.AppCommandContext(guild=True, dm_channel=False, private_channel=False)


class Handlers(Protocol):
    """What the tree's callbacks call; implemented by the shell."""

    async def invoke(
        self,
        interaction: discord.Interaction,
        spec: CommandSpec,
        options: dict[str, object],
        *,
        target_message: discord.Message | None = None,
        target_user: discord.Member | discord.User | None = None,
    ) -> None: ...

    async def complete(
        self, interaction: discord.Interaction, spec: CommandSpec, param: ParamSpec, current: str
    ) -> list[app_commands.Choice[str]]: ...


# ---------------------------------------------------------------------------------------- the plan


@dataclass
class SlashNode:
    """A slash command (with `spec`) or a group (with `children`), by its Discord name."""

    name: str
    spec: CommandSpec | None = None
    children: dict[str, SlashNode] = field(default_factory=dict)

    @property
    def is_group(self) -> bool:
        return bool(self.children)


@dataclass(frozen=True, slots=True)
class Menu:
    label: str
    target: str
    spec: CommandSpec


@dataclass(frozen=True, slots=True)
class Plan:
    slash: tuple[SlashNode, ...]
    menus: tuple[Menu, ...]

    def names(self) -> dict[tuple[str, ...], tuple[str, ...]]:
        """Discord's qualified names ("profile show") by registry path, for docs and tests."""
        out: dict[tuple[str, ...], tuple[str, ...]] = {}

        def walk(node: SlashNode, prefix: tuple[str, ...]) -> None:
            here = (*prefix, node.name)
            if node.spec is not None:
                out[node.spec.path] = here
            for child in node.children.values():
                walk(child, here)

        for top in self.slash:
            walk(top, ())
        return out


def plan(registry: Registry) -> Plan:
    """Which declarations Discord shows, and how; pure, so the layout is testable on its own.

    The names come from `Registry.slash_names` (Discord's nesting rules live there once, since
    help shows the same names); the plan only arranges them into groups and menus.
    """
    names = registry.slash_names()
    for reason in registry.slash_refusals().values():
        log.warning("%s, so it has no slash form", reason)
    roots: dict[str, SlashNode] = {}
    menus: list[Menu] = []
    for spec in registry:
        if spec.context_menu is not None:
            menus.append(Menu(spec.context_menu.label, spec.context_menu.target, spec))
    # Declarations under their own path first, so a group's `show` comes after its subcommands.
    placed = [s for s in registry if names.get(s.path) == s.path]
    moved = [s for s in registry if s.path in names and names[s.path] != s.path]
    for spec in (*placed, *moved):
        words = names[spec.path]
        node = roots.setdefault(words[0], SlashNode(words[0]))
        for word in words[1:]:
            node = node.children.setdefault(word, SlashNode(word))
        node.spec = spec
    return Plan(tuple(roots[name] for name in sorted(roots)), tuple(menus))


# ---------------------------------------------------------------------------------------- the tree


def build_tree(tree: app_commands.CommandTree[Any], registry: Registry, handlers: Handlers) -> Plan:
    """Add every command of the plan to `tree` (global scope; the shell copies them to guilds)."""
    layout = plan(registry)
    for node in layout.slash:
        try:
            command = _group(node, handlers, None) if node.is_group else _command(node, handlers, None)
            tree.add_command(command)
        except (TypeError, ValueError, app_commands.AppCommandError):
            # One declaration Discord cannot take (a name, a limit) must not take the others down.
            log.exception("/%s cannot be offered on Discord", node.name)
    for menu in layout.menus:
        try:
            tree.add_command(_menu(menu, handlers))
        except (TypeError, ValueError, app_commands.AppCommandError):
            log.exception("the %r menu cannot be offered on Discord", menu.label)
    return layout


def _describe(text: str) -> str:
    text = " ".join(text.split()) or "…"
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def _group(node: SlashNode, handlers: Handlers, parent: app_commands.Group | None) -> app_commands.Group:
    names = ", ".join(sorted(node.children))
    group = app_commands.Group(
        name=node.name,
        description=_describe(f"{node.name.capitalize()}: {names}"),
        parent=parent,
        allowed_contexts=GUILD_ONLY if parent is None else None,
    )
    for child in list(node.children.values())[:MAX_CHILDREN]:
        if child.is_group:
            _group(child, handlers, group)
        else:
            group.add_command(_command(child, handlers, group))
    return group


def _command(
    node: SlashNode, handlers: Handlers, parent: app_commands.Group | None
) -> app_commands.Command[Any, ..., None]:
    spec = node.spec
    assert spec is not None
    callback = _slash_callback(spec, handlers)
    return app_commands.Command(
        name=node.name,
        description=_describe(spec.help),
        callback=callback,
        parent=parent,
        allowed_contexts=GUILD_ONLY if parent is None else None,
    )


def _slash_callback(spec: CommandSpec, handlers: Handlers) -> Callable[..., Coroutine[Any, Any, None]]:
    """A callback whose signature *is* the declaration: discord.py reads options from it.

    The function takes `**values`; its `__signature__` lists each parameter with the annotation
    discord.py turns into the option type (str, an int range, a user), and the decorators add
    descriptions, choices and autocomplete, exactly as if the signature had been written by hand.
    """

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        # A picked user also travels whole, so `/mute` works on someone the forum hasn't heard from.
        picked = next((v for v in values.values() if isinstance(v, discord.Member | discord.User)), None)
        await handlers.invoke(interaction, spec, _options(spec, values), target_user=picked)

    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    for param in spec.params:
        parameters.append(
            inspect.Parameter(
                param.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_annotation(param),
                default=inspect.Parameter.empty if param.required else None,
            )
        )
    setattr(callback, "__signature__", inspect.Signature(parameters))  # noqa: B010 (functions have no typed slot)
    callback.__name__ = callback.__qualname__ = "_".join(spec.path)
    decorated: Callable[..., Coroutine[Any, Any, None]] = callback
    descriptions = {p.name: _describe(p.description) for p in spec.params}
    if descriptions:
        decorated = app_commands.describe(**descriptions)(decorated)
    choices = {
        p.name: [app_commands.Choice(name=c, value=c) for c in p.choices[:MAX_CHILDREN]]
        for p in spec.params
        if p.choices
    }
    if choices:
        decorated = app_commands.choices(**choices)(decorated)
    completers = {
        p.name: _completer(spec, p, handlers)
        for p in spec.params
        if p.autocomplete in SOURCES and p.kind == "str" and not p.choices
    }
    if completers:
        decorated = app_commands.autocomplete(**completers)(decorated)
    return decorated


def _annotation(param: ParamSpec) -> Any:
    if param.kind == "member":
        return Union[discord.Member, discord.User]  # noqa: UP007 (discord.py needs typing.Union here)
    if param.kind == "int":
        if param.min_value is None and param.max_value is None:
            return int
        return app_commands.Range[int, param.min_value, param.max_value]
    if param.max_length is not None and not param.choices:
        return app_commands.Range[str, None, min(param.max_length, 6000)]
    return str


def _completer(
    spec: CommandSpec, param: ParamSpec, handlers: Handlers
) -> Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]:
    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await handlers.complete(interaction, spec, param, current)

    return complete


def _options(spec: CommandSpec, values: dict[str, Any]) -> dict[str, object]:
    """discord.py's converted values as registry options: a picked user becomes a mention."""
    options: dict[str, object] = {}
    for param in spec.params:
        value = values.get(param.name)
        if value is None:
            continue
        if isinstance(value, discord.abc.User):
            value = f"<@{value.id}>"
        options[param.name] = value
    return options


def _menu(menu: Menu, handlers: Handlers) -> app_commands.ContextMenu:
    spec = menu.spec
    if menu.target == "message":

        async def on_message(interaction: discord.Interaction, message: discord.Message) -> None:
            await handlers.invoke(interaction, spec, {}, target_message=message)

        return app_commands.ContextMenu(name=menu.label, callback=on_message, allowed_contexts=GUILD_ONLY)

    async def on_user(
        interaction: discord.Interaction,
        user: Union[discord.Member, discord.User],  # noqa: UP007 (discord.py reads typing.Union)
    ) -> None:
        options: dict[str, object] = {}
        member_param = _first_member_param(spec.params)
        if member_param is not None:
            options[member_param.name] = f"<@{user.id}>"
        await handlers.invoke(interaction, spec, options, target_user=user)

    return app_commands.ContextMenu(name=menu.label, callback=on_user, allowed_contexts=GUILD_ONLY)


def _first_member_param(params: Sequence[ParamSpec]) -> ParamSpec | None:
    """A user context menu fills the declaration's first member parameter with the target."""
    return next((p for p in params if p.kind == "member"), None)


MODAL_LABEL = 45


def menu_form(spec: CommandSpec, label: str, filled: dict[str, object]) -> Form | None:
    """The modal a context menu opens when its declaration needs more than the target.

    It asks for every required parameter the menu could not fill, plus the optional free-text
    ones (a report's reason); a parameter with choices lists them as the placeholder and the
    core checks the answer. None when the target is all the command needs.
    """
    missing = [p for p in spec.params if p.required and p.name not in filled]
    if not missing:
        return None
    extra = [p for p in spec.params if not p.required and p.rest and p.kind == "str" and p.name not in filled]
    fields = tuple(_field(p) for p in (*missing, *extra))
    return Form(label, spec.path, fields[:5], options={k: str(v) for k, v in filled.items()})


def _field(param: ParamSpec) -> FormField:
    """A modal text field for one parameter; its choices, if any, are the placeholder (the core
    checks the answer, since a modal has no select for them)."""
    return FormField(
        name=param.name,
        label=_label(param),
        required=param.required,
        multiline=param.rest,
        max_length=param.max_length,
        placeholder=", ".join(param.choices)[:100] if param.choices else None,
    )


def press_form(spec: CommandSpec, title: str, filled: dict[str, str], asks: Sequence[str]) -> Form | None:
    """The modal a button opens when its action needs words the button cannot carry: "Mute
    author" asks for a duration and a reason, then runs `case mute` with them and the case."""
    wanted = [p for name in asks for p in spec.params if p.name == name and name not in filled]
    if not wanted:
        return None
    fields = tuple(_field(p) for p in wanted)
    return Form(title[:45] or " ".join(spec.path), spec.path, fields[:5], options=dict(filled))


def _label(param: ParamSpec) -> str:
    text = param.description if len(param.description) <= MODAL_LABEL else param.name.replace("_", " ")
    return text[:MODAL_LABEL].capitalize() if text.islower() else text[:MODAL_LABEL]

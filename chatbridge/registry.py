"""One declaration per command, read by every front end.

A command is an async function decorated with `@command(...)`; its parameters are read from the
signature and `Annotated[..., Param(...)]` metadata (the idea of discord.py's hybrid commands). The
same `CommandSpec` yields the Discord application command and the Matrix/console text syntax, and
usage text is generated from it, so the two front ends cannot drift apart.
"""

from __future__ import annotations

import bisect
import enum
import importlib
import inspect
import pkgutil
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args, get_origin

from chatbridge.forum.text import quote_input, whole_number
from chatbridge.model import PlatformName, Privilege

SPEC_ATTRIBUTE = "__chatbridge_command__"

Syntax = Literal["typed", "slash"]
"""How members invoke commands: typed text (`!thread new "Title" body`) or Discord's slash
commands and context menus (`/thread new title:… body:…`, Apps → Like)."""
SLASH_PLATFORMS = frozenset({PlatformName.DISCORD})
SLASH_GROUP_ALIASES = ("show", "view", "info")
"""Names tried, in order, for a declaration that is also a group (Discord cannot invoke a group)."""
MAX_SLASH_DEPTH = 3
LARGEST_NUMBER = 2**31 - 1
"""The bound of a number option that declares none: it fits every integer column and Discord's."""


def syntax_for(platform: PlatformName) -> Syntax:
    """The command syntax a platform's members see in help and usage."""
    return "slash" if platform in SLASH_PLATFORMS else "typed"


class MemberRef(str):
    """A parameter naming a member: a mention, a platform user id or a display name."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Param:
    """Metadata for one parameter, attached with `Annotated`."""

    description: str
    autocomplete: str | None = None
    rest: bool = False
    max_length: int | None = None
    min_value: int | None = None
    max_value: int | None = None
    typed: bool = True
    """False: only platforms with structured commands (Discord's slash options) offer it. For an
    option that cannot be reached in typed text (after a `rest` parameter), so that typed usage
    does not promise it."""


@dataclass(frozen=True, slots=True)
class ContextMenu:
    """A right-click variant of a command (Discord); on text platforms it is a reply-form command."""

    label: str
    target: Literal["message", "user"]


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter as every front end needs it."""

    name: str
    kind: Literal["str", "int", "member"]
    description: str
    required: bool
    default: object = None
    choices: tuple[str, ...] = ()
    autocomplete: str | None = None
    rest: bool = False
    max_length: int | None = None
    min_value: int | None = None
    max_value: int | None = None
    typed: bool = True

    def usage(self, syntax: Syntax = "typed") -> str:
        """`<title>` / `[page]` when typed; `title:<title>` / `[page:<page>]` as a slash option."""
        label = "|".join(self.choices) if self.choices else self.name
        if self.rest and syntax == "typed":
            label += "…"
        shown = f"{self.name}:<{label}>" if syntax == "slash" else f"<{label}>"
        if syntax == "slash":
            return shown if self.required else f"[{shown}]"
        return shown if self.required else f"[{label}]"


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """Everything known about a command, independent of any platform."""

    path: tuple[str, ...]
    help: str
    params: tuple[ParamSpec, ...]
    handler: Handler
    privilege: Privilege = Privilege.MEMBER
    ephemeral: bool = False
    context_menu: ContextMenu | None = None
    needs_target_message: bool = False
    conceal: bool = False
    """Every answer asks the platform to hide the typed command from others (see
    `OutgoingMessage.conceal_invocation`): its words, or who typed it, are private (a report, a
    call-in, a source request)."""
    aliases: tuple[str, ...] = ()
    allowed_while_muted: bool = False
    """Whether a muted member may still use it (help, appeal, their own card); dispatch refuses
    every other command to them, so a mute holds on every platform without each command checking."""

    @property
    def name(self) -> str:
        return " ".join(self.path)

    def usage(self, prefix: str = "!") -> str:
        parts = [prefix + self.name, *(p.usage() for p in self.params if p.typed)]
        return " ".join(parts)


class UsageError(Exception):
    """A command was typed wrongly; the message is polite and shown with the usage."""

    def __init__(self, message: str, spec: CommandSpec | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.spec = spec


def command(
    name: str,
    *,
    help: str,
    privilege: Privilege = Privilege.MEMBER,
    ephemeral: bool = False,
    context_menu: ContextMenu | None = None,
    needs_target_message: bool = False,
    conceal: bool = False,
    aliases: Iterable[str] = (),
    allowed_while_muted: bool = False,
) -> Callable[[Handler], Handler]:
    """Declare a command. The decorator only annotates the function; `Registry` collects it."""

    def decorate(handler: Handler) -> Handler:
        spec = CommandSpec(
            path=tuple(name.split()),
            help=help,
            params=tuple(_params_of(handler)),
            handler=handler,
            privilege=privilege,
            ephemeral=ephemeral,
            context_menu=context_menu,
            needs_target_message=needs_target_message,
            conceal=conceal,
            aliases=tuple(aliases),
            allowed_while_muted=allowed_while_muted,
        )
        setattr(handler, SPEC_ATTRIBUTE, spec)
        return handler

    return decorate


def _params_of(handler: Handler) -> Iterator[ParamSpec]:
    hints = typing.get_type_hints(handler, include_extras=True)
    signature = inspect.signature(handler)
    for index, (pname, parameter) in enumerate(signature.parameters.items()):
        if index == 0:
            continue  # the Context
        hint = hints.get(pname)
        if get_origin(hint) is not Annotated:
            raise TypeError(f"{handler.__qualname__}: parameter {pname!r} needs Annotated[..., Param(...)]")
        base, *extras = get_args(hint)
        meta = next((e for e in extras if isinstance(e, Param)), None)
        if meta is None:
            raise TypeError(f"{handler.__qualname__}: parameter {pname!r} needs a Param(...)")
        optional = parameter.default is not inspect.Parameter.empty
        base, nullable = _strip_none(base)
        kind, choices = _kind_of(base, handler, pname)
        yield ParamSpec(
            name=pname,
            kind=kind,
            description=meta.description,
            required=not optional and not nullable,
            default=None if parameter.default is inspect.Parameter.empty else parameter.default,
            choices=choices,
            autocomplete=meta.autocomplete,
            rest=meta.rest,
            max_length=meta.max_length,
            min_value=meta.min_value,
            max_value=meta.max_value,
            typed=meta.typed,
        )


def _strip_none(hint: Any) -> tuple[Any, bool]:
    if isinstance(hint, types.UnionType) or get_origin(hint) is typing.Union:
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _kind_of(
    hint: Any, handler: Handler, pname: str
) -> tuple[Literal["str", "int", "member"], tuple[str, ...]]:
    if hint is MemberRef:
        return "member", ()
    if hint is str:
        return "str", ()
    if hint is int:
        return "int", ()
    if get_origin(hint) is Literal:
        return "str", tuple(str(a) for a in get_args(hint))
    if isinstance(hint, type) and issubclass(hint, enum.StrEnum):
        return "str", tuple(m.value for m in hint)
    raise TypeError(f"{handler.__qualname__}: parameter {pname!r} has unsupported type {hint!r}")


@dataclass(frozen=True, slots=True)
class Token:
    """A word of a typed command and where it stood, so a `rest` parameter keeps the raw text."""

    value: str
    start: int
    end: int


_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "„": "“"}


_APOSTROPHES = frozenset("'‘")


def tokenize(text: str) -> list[Token]:
    """Split like a shell, but for chat: quotes group words only where a word starts with one.

    Curly quotes from phone keyboards count; an apostrophe inside a word ("don't") is a letter; a
    single quote that never closes is a letter too. Only an unclosed double quote is an error. A
    quote inside quoted text is kept (see `_Closings.after`), so `"Robert"); DELETE x" body` gives the
    title `Robert"); DELETE x` rather than a cut one; `\\"` inside quotes is a quote too.
    """
    tokens: list[Token] = []
    closings = _Closings(text)
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        buf: list[str] = []
        while i < n and not text[i].isspace():
            ch = text[i]
            closing = _QUOTES.get(ch) if i == start else None
            end = closings.after(i, closing) if closing is not None else -1
            if closing is not None and end < 0 and ch not in _APOSTROPHES:
                raise UsageError(f"A quote {ch} is opened but never closed.")
            if end >= 0:
                assert closing is not None
                buf.append(text[i + 1 : end].replace("\\" + closing, closing))
                i = end + 1
            elif ch == "\\" and i + 1 < n:
                buf.append(text[i + 1])
                i += 2
            else:
                buf.append(ch)
                i += 1
        tokens.append(Token("".join(buf), start, i))
    return tokens


class _Closings:
    """Where quotes can close in one text, found once per quote character: a text of thousands of
    quotes must not be scanned again for every word that starts with one."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._found: dict[str, tuple[list[int], list[int]]] = {}

    def after(self, opening: int, closing: str) -> int:
        """Where the quote opened at `opening` closes: the first `closing` quote that ends a word.

        A quote followed by more of the same word (`"Robert");`) is part of the quoted text, so a
        title keeps its inner quotes instead of being cut at the first one. When no quote ends a
        word, the first one closes (`"a"b` is `ab`, as in a shell). A backslashed quote never
        closes. -1 when none does.
        """
        every, ending = self._positions(closing)
        for positions in (ending, every):
            index = bisect.bisect_right(positions, opening)
            if index < len(positions):
                return positions[index]
        return -1

    def _positions(self, closing: str) -> tuple[list[int], list[int]]:
        found = self._found.get(closing)
        if found is None:
            text, last = self._text, len(self._text) - 1
            every = [i for i, ch in enumerate(text) if ch == closing and (i == 0 or text[i - 1] != "\\")]
            ending = [i for i in every if i == last or text[i + 1].isspace()]
            found = self._found[closing] = (every, ending)
        return found


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    spec: CommandSpec
    options: dict[str, object]


@dataclass
class Registry:
    """All declared commands, looked up by path. Built per application, never a global."""

    specs: dict[tuple[str, ...], CommandSpec] = field(default_factory=dict)
    prefixes: tuple[str, ...] = ("!", "/")

    @classmethod
    def from_package(
        cls, package: str = "chatbridge.commands", prefixes: tuple[str, ...] = ("!", "/")
    ) -> Registry:
        """Import every module of the commands package and collect the declared commands."""
        registry = cls(prefixes=prefixes)
        root = importlib.import_module(package)
        for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda m: m.name):
            module = importlib.import_module(f"{package}.{info.name}")
            registry.add_module(module)
        return registry

    def add_module(self, module: types.ModuleType) -> None:
        for value in vars(module).values():
            spec = getattr(value, SPEC_ATTRIBUTE, None)
            if isinstance(spec, CommandSpec):
                self.add(spec)

    def add(self, spec: CommandSpec) -> None:
        for path in (spec.path, *(tuple(a.split()) for a in spec.aliases)):
            if path in self.specs and self.specs[path] is not spec:
                raise ValueError(f"command {' '.join(path)!r} is declared twice")
            self.specs[path] = spec

    def __iter__(self) -> Iterator[CommandSpec]:
        seen: set[int] = set()
        for spec in sorted(self.specs.values(), key=lambda s: s.path):
            if id(spec) not in seen:
                seen.add(id(spec))
                yield spec

    def slash_names(self) -> dict[tuple[str, ...], tuple[str, ...]]:
        """Each declaration's slash command words on Discord, by registry path.

        Discord's nesting rules, here once for help and the Discord adapter's command tree alike:
        a declaration that is also a group moves to a child called `show` (or `view`, `info`),
        paths longer than three words and declarations that need a target message have no slash
        form (the latter are context menus only).
        """
        return self._slash_layout()[0]

    def slash_refusals(self) -> dict[tuple[str, ...], str]:
        """Why a declaration that is not a menu-only one has no slash form, by registry path;
        the adapter logs these, so a command that silently went missing is explained."""
        return self._slash_layout()[1]

    def _slash_layout(self) -> tuple[dict[tuple[str, ...], tuple[str, ...]], dict[tuple[str, ...], str]]:
        specs = [s for s in self if not s.needs_target_message]
        refused = {
            s.path: f"{s.name!r} has more than {MAX_SLASH_DEPTH} words; Discord cannot nest it"
            for s in specs
            if len(s.path) > MAX_SLASH_DEPTH
        }
        eligible = [s for s in specs if s.path not in refused]
        nodes = {s.path[:depth] for s in eligible for depth in range(1, len(s.path) + 1)}
        out: dict[tuple[str, ...], tuple[str, ...]] = {}
        for spec in eligible:
            children = {n[-1] for n in nodes if len(n) == len(spec.path) + 1 and n[:-1] == spec.path}
            if not children:
                out[spec.path] = spec.path
                continue
            alias = next((a for a in SLASH_GROUP_ALIASES if a not in children), None)
            if alias is not None and len(spec.path) < MAX_SLASH_DEPTH:
                out[spec.path] = (*spec.path, alias)
            else:
                refused[spec.path] = f"{spec.name!r} is also a group and every alias is taken"
        return out, refused

    def invocation(self, spec: CommandSpec, syntax: Syntax, *, full: bool = True) -> str:
        """How a member invokes `spec`: its usage (`full`) or just its name, in `syntax`.

        On a slash platform a declaration without a slash form is shown as its context menu
        (Apps → Like), or typed as a last resort (a reply `!unlike`, which needs message content).
        """
        prefix = self.prefixes[0]
        if syntax == "slash":
            words = self.slash_names().get(spec.path)
            if words is not None:
                options = [p.usage("slash") for p in spec.params] if full else []
                return " ".join(["/" + " ".join(words), *options])
            if spec.context_menu is not None:
                return f"Apps → {spec.context_menu.label}"
        return spec.usage(prefix) if full else prefix + spec.name

    def groups(self) -> dict[str, list[CommandSpec]]:
        """Commands by their first word: Discord turns each group into one slash command."""
        out: dict[str, list[CommandSpec]] = {}
        for spec in self:
            out.setdefault(spec.path[0], []).append(spec)
        return out

    def strip_prefix(self, text: str) -> str | None:
        """The command text without its prefix, or None when the message is not a command."""
        stripped = text.lstrip()
        for prefix in self.prefixes:
            if (
                stripped.startswith(prefix)
                and len(stripped) > len(prefix)
                and not stripped[len(prefix)].isspace()
            ):
                return stripped[len(prefix) :]
        return None

    def is_command(self, text: str) -> bool:
        return self.strip_prefix(text) is not None

    def parse(self, text: str) -> ParsedCommand:
        """Parse typed text (prefix already removed) into a spec and converted options."""
        tokens = tokenize(text)
        if not tokens:
            raise UsageError("That command is empty.")
        words = [t.value.lower() for t in tokens]
        for length in (3, 2, 1):
            spec = self.specs.get(tuple(words[:length]))
            if spec is not None:
                return ParsedCommand(spec, self._bind(spec, text, tokens[length:]))
        if words[0] in {s.path[0] for s in self.specs.values()}:
            subcommands = ", ".join(
                sorted({s.path[1] for s in self.specs.values() if s.path[0] == words[0] and len(s.path) > 1})
            )
            raise UsageError(f"`{words[0]}` needs a subcommand: {subcommands}.")
        raise UsageError(
            f"I don't know the command {quote_input(tokens[0].value)}. Try `{self.prefixes[0]}help`."
        )

    def _bind(self, spec: CommandSpec, text: str, tokens: list[Token]) -> dict[str, object]:
        raw: dict[str, object] = {}
        position = 0
        for param in spec.params:
            if position >= len(tokens):
                break
            if not param.typed:
                continue
            if param.rest:
                remaining = tokens[position:]
                quoted_whole = len(remaining) == 1 and text[remaining[0].start] in _QUOTES
                raw[param.name] = remaining[0].value if quoted_whole else text[remaining[0].start :].strip()
                position = len(tokens)
                break
            if param.kind == "int" and not param.required and whole_number(tokens[position].value) is None:
                continue  # an optional number left out ("warn bob spam links"): the word is for what follows
            raw[param.name] = tokens[position].value
            position += 1
        if position < len(tokens):
            extra = " ".join(t.value for t in tokens[position:])
            raise UsageError(
                f"I didn't expect {quote_input(extra)} there. Put text with spaces in quotes.", spec
            )
        return convert_options(spec, raw)


def convert_options(spec: CommandSpec, raw: Mapping[str, object]) -> dict[str, object]:
    """Check and convert options, from typed text or from a platform's structured interaction."""
    unknown = set(raw) - {p.name for p in spec.params}
    if unknown:
        named = ", ".join(quote_input(name) for name in sorted(unknown))
        raise UsageError(f"`{spec.name}` has no option {named}.", spec)
    out: dict[str, object] = {}
    for param in spec.params:
        if param.name not in raw or raw[param.name] in (None, ""):
            if param.required:
                raise UsageError(f"`{spec.name}` needs {param.usage()}: {param.description}.", spec)
            out[param.name] = param.default
            continue
        out[param.name] = _convert(spec, param, raw[param.name])
    return out


def _convert(spec: CommandSpec, param: ParamSpec, value: object) -> object:
    if param.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise UsageError(f"{param.usage()} must be a whole number.", spec)
        number = value if isinstance(value, int) else whole_number(value)
        if number is None:
            raise UsageError(f"{param.usage()} must be a whole number, not {quote_input(str(value))}.", spec)
        low = param.min_value if param.min_value is not None else -LARGEST_NUMBER
        high = param.max_value if param.max_value is not None else LARGEST_NUMBER
        if number < low:
            raise UsageError(f"{param.usage()} must be at least {low:,}.", spec)
        if number > high:
            raise UsageError(f"{param.usage()} must be at most {high:,}.", spec)
        return number
    text = str(value).strip()
    if param.choices:
        lowered = text.lower()
        if lowered not in param.choices:
            raise UsageError(
                f"{param.name} must be one of {', '.join(param.choices)}; {quote_input(text)} isn't.", spec
            )
        return lowered
    if param.max_length is not None and len(text) > param.max_length:
        raise UsageError(
            f"{param.name} can be at most {param.max_length} characters; yours has {len(text)}.", spec
        )
    if param.kind == "member":
        return MemberRef(text)
    return text

"""What Discord accepts as message components and as a modal.

Rules from developers/components/reference.mdx (and the modal callback's fields from
developers/interactions/receiving-and-responding.mdx); a break is 400 50035 Invalid Form Body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .form_errors import FormError, check_count, check_length

ACTION_ROW = 1
BUTTON = 2
STRING_SELECT = 3
TEXT_INPUT = 4
SELECTS = frozenset({3, 5, 6, 7, 8})
LABEL = 18
LINK_STYLE = 5
PREMIUM_STYLE = 6

IS_COMPONENTS_V2 = 1 << 15
MAX_LEGACY_ROWS = 5  # reference.mdx "Legacy Message Component Behavior": up to 5 action rows
MAX_ROW_BUTTONS = 5  # reference.mdx "Action Row": up to 5 buttons or a single select
MAX_MODAL_COMPONENTS = 5  # receiving-and-responding.mdx "Modal": between 1 and 5 components
MAX_MODAL_TITLE = 45  # receiving-and-responding.mdx "Modal": title, max 45 characters
MAX_LABEL = 45  # reference.mdx "Label": the label text, max 45 characters
MAX_TEXT = 4000  # reference.mdx "Text Input": value, min_length, max_length up to 4000


def _check_custom_id(path: tuple[str | int, ...], value: Any) -> None:
    # reference.mdx "Custom ID": "a string of 1 to 100 characters"
    check_length((*path, "custom_id"), value, 1, 100)


def _check_button(path: tuple[str | int, ...], button: Mapping[str, Any]) -> None:
    # reference.mdx "Button": label max 80; custom_id 1-100 (not on link/premium); url max 512
    check_length((*path, "label"), button.get("label"), 0, 80)
    if button.get("style") == LINK_STYLE:
        check_length((*path, "url"), button.get("url"), 1, 512)
    elif button.get("style") != PREMIUM_STYLE:
        _check_custom_id(path, button.get("custom_id"))


def _check_select(path: tuple[str | int, ...], select: Mapping[str, Any]) -> None:
    # reference.mdx "String Select": options max 25, placeholder max 150, option fields max 100
    _check_custom_id(path, select.get("custom_id"))
    check_length((*path, "placeholder"), select.get("placeholder"), 0, 150)
    for index, option in enumerate(check_count((*path, "options"), select.get("options"), 25)):
        for key in ("label", "value"):
            check_length((*path, "options", index, key), option.get(key), 1, 100)
        check_length((*path, "options", index, "description"), option.get("description"), 0, 100)


def _check_row(path: tuple[str | int, ...], row: Mapping[str, Any]) -> None:
    children = list(row.get("components") or [])
    if not children:
        raise FormError((*path, "components"), "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")
    if any(c.get("type") in SELECTS for c in children) and len(children) > 1:
        raise FormError(
            (*path, "components"),
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
            "The specified component exceeds the maximum width",
        )
    check_count((*path, "components"), children, MAX_ROW_BUTTONS)
    for index, child in enumerate(children):
        where = (*path, "components", index)
        if child.get("type") == BUTTON:
            _check_button(where, child)
        elif child.get("type") in SELECTS:
            _check_select(where, child)
        else:
            raise FormError((*where, "type"), "COMPONENT_TYPE_INVALID", "Invalid component type")


def check_message_components(components: Any, flags: int) -> None:
    """Legacy messages: at most 5 action rows of at most 5 buttons (or one select) each."""
    if not components or flags & IS_COMPONENTS_V2:
        return
    for index, row in enumerate(check_count(("components",), components, MAX_LEGACY_ROWS)):
        if row.get("type") != ACTION_ROW:
            raise FormError(("components", index, "type"), "COMPONENT_TYPE_INVALID", "Invalid component type")
        _check_row(("components", index), row)


def _check_text_input(path: tuple[str | int, ...], field: Mapping[str, Any], *, in_label: bool) -> None:
    _check_custom_id(path, field.get("custom_id"))
    if not in_label:
        # A Text Input in an Action Row carries its own label (deprecated in favour of Label,
        # whose text is limited to 45 characters).
        check_length((*path, "label"), field.get("label"), 1, MAX_LABEL)
    check_length((*path, "value"), field.get("value"), 0, MAX_TEXT)
    check_length((*path, "placeholder"), field.get("placeholder"), 0, 100)
    for key, low in (("min_length", 0), ("max_length", 1)):
        bound = field.get(key)
        if bound is not None and not low <= int(bound) <= MAX_TEXT:
            code = "NUMBER_TYPE_MAX" if int(bound) > MAX_TEXT else "NUMBER_TYPE_MIN"
            raise FormError((*path, key), code, f"Must be between {low} and {MAX_TEXT}.")


def check_modal(data: Mapping[str, Any]) -> None:
    """A MODAL callback's data: custom_id, title of at most 45, 1-5 top-level components."""
    path: tuple[str | int, ...] = ("data",)
    _check_custom_id(path, data.get("custom_id"))
    check_length((*path, "title"), data.get("title"), 1, MAX_MODAL_TITLE)
    components: Sequence[Mapping[str, Any]] = check_count(
        (*path, "components"), data.get("components"), MAX_MODAL_COMPONENTS, low=1
    )
    for index, component in enumerate(components):
        where = (*path, "components", index)
        if component.get("type") == LABEL:
            check_length((*where, "label"), component.get("label"), 1, MAX_LABEL)
            check_length((*where, "description"), component.get("description"), 0, 100)
            inner = component.get("component") or {}
            if inner.get("type") == TEXT_INPUT:
                _check_text_input((*where, "component"), inner, in_label=True)
        elif component.get("type") == ACTION_ROW:
            children = check_count((*where, "components"), component.get("components"), 1, low=1)
            if children[0].get("type") == TEXT_INPUT:
                _check_text_input((*where, "components", 0), children[0], in_label=False)

"""Member cards: view anyone's, edit your own, and choose who sees each field."""

from __future__ import annotations

from typing import Annotated

from chatbridge.context import Context
from chatbridge.errors import CommandError
from chatbridge.model import OutgoingMessage
from chatbridge.registry import ContextMenu, MemberRef, Param, Syntax, command, syntax_for
from chatbridge.services import profiles
from chatbridge.services.moderation import mute_gate
from chatbridge.services.profiles import Field, Visibility


@command(
    "profile",
    help="Show a member's card (yours, privately, when no member is named).",
    context_menu=ContextMenu("View profile", target="user"),
    allowed_while_muted=True,
)
async def profile(
    ctx: Context,
    member: Annotated[MemberRef | None, Param("The member", autocomplete="members", rest=True)] = None,
) -> OutgoingMessage:
    """Your own card is answered privately, with every field marked with who may see it; someone
    else's is answered in the room with what everyone there may see, except that a moderator who
    may see more (moderator-only fields) is answered privately with them."""
    subject = ctx.member_named(member)
    if subject.id == ctx.member.id:
        own = profiles.card(
            ctx.session, subject, ctx.core.trophies, audience=ctx.audience.for_asker_only(), now=ctx.now
        )
        return ctx.reply("profile/card.md.j2", ephemeral=True, card=own)
    _refuse_if_muted(ctx)
    public = profiles.card(ctx.session, subject, ctx.core.trophies, audience=ctx.audience, now=ctx.now)
    private = profiles.card(
        ctx.session, subject, ctx.core.trophies, audience=ctx.audience.for_asker_only(), now=ctx.now
    )
    if len(private.fields) > len(public.fields):
        return ctx.reply("profile/card.md.j2", ephemeral=True, card=private)
    return ctx.reply("profile/card.md.j2", card=public)


def _refuse_if_muted(ctx: Context) -> None:
    """A muted member may see only their own card (dispatch lets `profile` through for that)."""
    syntax: Syntax = "typed" if ctx.event.raw is not None else syntax_for(ctx.event.room.platform)
    refusal = mute_gate.check(ctx.core, ctx.session, ctx.member, ctx.now, syntax)
    if refusal is not None:
        raise CommandError(refusal)


@command("profile set", help="Set a field of your card.", ephemeral=True)
async def profile_set(
    ctx: Context,
    field: Annotated[Field, Param("Which field")],
    value: Annotated[str, Param("The new value", rest=True, autocomplete="countries")],
) -> OutgoingMessage:
    row = profiles.set_field(ctx.session, ctx.member, Field(field), value, ctx.now)
    shown = profiles.display_value(row.field, row.value)
    return ctx.reply(
        "profile/updated.md.j2", label=profiles.LABELS[Field(field)], value=shown, visibility=row.visibility
    )


@command("profile clear", help="Remove a field from your card.", ephemeral=True)
async def profile_clear(ctx: Context, field: Annotated[Field, Param("Which field")]) -> OutgoingMessage:
    label = profiles.LABELS[Field(field)]
    if not profiles.clear_field(ctx.session, ctx.member, Field(field)):
        return ctx.say(f"Your card has no {label.lower()} to clear.")
    return ctx.say(f"Removed {label.lower()} from your card.")


@command(
    "profile visibility",
    help="Choose who sees a field: public, members, moderators or hidden.",
    ephemeral=True,
)
async def profile_visibility(
    ctx: Context,
    field: Annotated[Field, Param("Which field")],
    visibility: Annotated[Visibility, Param("Who may see it")],
) -> OutgoingMessage:
    profiles.set_visibility(ctx.session, ctx.member, Field(field), Visibility(visibility), ctx.now)
    label = profiles.LABELS[Field(field)]
    return ctx.say(f"Your {label.lower()} is now visible to: {visibility}.")

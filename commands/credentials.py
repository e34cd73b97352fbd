"""Verified clinician badges: verifiers record and remove credentials; everyone can list them.

A badge is a statement by the forum ("a verifier saw evidence"), unlike the self-described profile
fields; so only moderators and the configured verifiers may give one, every change is in the case
log, and the evidence note is shown to moderators only. On Discord a configured role follows the
badge; the answer says plainly when Discord refuses it (the bot's role must be above it).
"""

from __future__ import annotations

from typing import Annotated

from chatbridge.context import Context
from chatbridge.errors import CommandError
from chatbridge.forum.text import normalise
from chatbridge.model import OutgoingMessage, Privilege
from chatbridge.platform import PlatformError
from chatbridge.registry import MemberRef, Param, command
from chatbridge.render.escape import escape_user_text
from chatbridge.services import credentials, directory
from chatbridge.services.moderation.notices import enqueue_dm
from chatbridge.store.tables import Member

_MEMBER = Annotated[MemberRef, Param("A member: mention, name or platform user id")]
REASON_MAX = 1000


def _require_verifier(ctx: Context) -> None:
    if not credentials.may_verify(ctx.core.settings.credentials, ctx.event.actor, ctx.privilege):
        raise CommandError("Only moderators and the community's verifiers can verify credentials.")


def _sync_role(ctx: Context, member: Member, *, present: bool) -> str:
    """Add or remove the configured badge role on this platform; a sentence for the verifier."""
    role_id = ctx.core.settings.credentials.discord_role_id
    if role_id is None:
        return ""
    identity = directory.identity_of(ctx.session, member, ctx.platform.name)
    if identity is None:
        return ""
    community_id, user_id = ctx.event.room.community_id, identity.platform_user_id
    try:  # outside the store transaction (see `Context.from_platform`), after every check
        ctx.from_platform(
            f"set_role:{user_id}:{present}",
            lambda: ctx.platform.set_role(community_id, user_id, role_id, present=present),
        )
    except PlatformError as error:
        ctx.log_action("role_sync_failed", member, present=present, error=str(error))
        done = "recorded" if present else "removed"
        return f"\n⚠️ The badge is {done}, but the role was not changed: {escape_user_text(str(error))}"
    return ""


@command(
    "verify",
    help="Record a member's verified credential; add '; expires <date>', '; note <evidence>' (verifiers).",
    ephemeral=True,
)
async def verify(
    ctx: Context,
    member: _MEMBER,
    credential: Annotated[
        str,
        Param("The credential, then optionally '; expires <date or 52w>' and '; note <evidence>'", rest=True),
    ],
) -> OutgoingMessage:
    _require_verifier(ctx)
    subject = ctx.member_named(member)
    if subject.is_bot:
        raise CommandError("Bots can't hold credentials.")
    details = credentials.parse_details(credential, ctx.now)
    record, replaced = credentials.verify(
        ctx.session, member=subject, verifier=ctx.member, details=details, now=ctx.now
    )
    ctx.log_action(
        "verify",
        subject,
        credential_id=record.id,
        title=record.title,
        expires=record.expires_at.isoformat() if record.expires_at else None,
        note=record.evidence_note or None,
    )
    enqueue_dm(
        ctx.session,
        subject,
        OutgoingMessage(ctx.core.renderer.render("credentials/you_are_verified.md.j2", credential=record)),
        dedupe_key=f"credential-verified:{record.id}",
        now=ctx.now,
        prefer=ctx.platform.name,
    )
    warning = _sync_role(ctx, subject, present=True)
    text = ctx.core.renderer.render(
        "credentials/verified.md.j2", member=subject, credential=record, replaced=replaced
    )
    return ctx.say(text + warning)


@command("unverify", help="Remove a member's verified credential (moderators and verifiers).", ephemeral=True)
async def unverify(
    ctx: Context,
    member: _MEMBER,
    reason: Annotated[str | None, Param("Why, for the case log", rest=True)] = None,
) -> OutgoingMessage:
    _require_verifier(ctx)
    subject = ctx.member_named(member)
    text = (
        normalise(reason, max_len=REASON_MAX, field="reason", multiline=True)
        if reason and reason.strip()
        else ""
    )
    removed = credentials.unverify(ctx.session, member=subject, by=ctx.member, now=ctx.now)
    if removed is None:
        return ctx.say(f"{escape_user_text(subject.display_name)} has no verified credential to remove.")
    ctx.log_action("unverify", subject, credential_id=removed.id, title=removed.title, reason=text or None)
    warning = _sync_role(ctx, subject, present=False)
    return ctx.say(
        f"Removed the verified credential of {escape_user_text(subject.display_name)} "
        f"({escape_user_text(removed.title)}); the change is in the case log.{warning}"
    )


@command("verified", help="List the verified clinicians, optionally only those matching a credential.")
async def verified(
    ctx: Context,
    credential: Annotated[
        str | None, Param("Part of a credential, like 'Emergency' or 'RN'", rest=True)
    ] = None,
) -> OutgoingMessage:
    wanted = normalise(credential, max_len=credentials.TITLE_MAX, field="credential") if credential else None
    assert ctx.community.id is not None
    rows = credentials.listing(
        ctx.session, ctx.community.id, ctx.now, wanted=wanted, public_only=not ctx.audience.private
    )
    show_evidence = ctx.audience.private and ctx.privilege >= Privilege.MODERATOR
    return ctx.reply("credentials/list.md.j2", rows=rows, wanted=wanted, show_evidence=show_evidence)

"""The pure half of the Discord adapter: meaning, ids, rendering and custom ids, without a network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import discord
import pytest

from chatbridge.adapters.discord import deletions, likes, translate
from chatbridge.adapters.discord.translate import Place
from chatbridge.model import (
    Action,
    Actor,
    Form,
    FormField,
    MessagePosted,
    OutgoingMessage,
    PlatformName,
    Privilege,
    ReactionAdded,
    ReactionRemoved,
)

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
GUILD, FORUM, POST, GENERAL = 100, 200, 300, 400
ALICE = Actor(PlatformName.DISCORD, "11", "Alice Adams")
IN_FORUM_POST = Place(
    GUILD,
    POST,
    "Syncope work-up",
    parent_id=FORUM,
    parent_name="questions",
    parent_is_forum=True,
    thread_tags=("cardiology",),
)
IN_GENERAL = Place(GUILD, GENERAL, "general")


def test_a_forum_posts_starter_message_opens_its_thread_with_title_and_tags() -> None:
    event = translate.posted(
        message_id=POST,
        place=IN_FORUM_POST,
        actor=ALICE,
        content="Young athlete, normal ECG",
        message_type=discord.MessageType.default,
        at=AT,
    )
    assert isinstance(event, MessagePosted)
    assert (event.event_id, event.starts_thread, event.thread_title, event.thread_tags) == (
        "message:300",
        True,
        "Syncope work-up",
        ("cardiology",),
    )
    assert (event.room.room_id, event.room.name, event.thread_id) == ("200", "questions", "300")


def test_a_later_message_in_the_post_is_a_reply_filed_under_the_forum_channel() -> None:
    event = translate.posted(
        message_id=301,
        place=IN_FORUM_POST,
        actor=ALICE,
        content="",  # no message-content intent: still a reply that counts
        message_type=discord.MessageType.reply,
        at=AT,
        reply_to=POST,
    )
    assert isinstance(event, MessagePosted)
    assert not event.starts_thread and event.thread_id == "300" and event.reply_to == "300"
    assert event.room.room_id == "200"


def test_system_messages_never_count() -> None:
    for kind in (
        discord.MessageType.pins_add,
        discord.MessageType.thread_created,
        discord.MessageType.new_member,
    ):
        assert (
            translate.posted(
                message_id=1, place=IN_GENERAL, actor=ALICE, content="", message_type=kind, at=AT
            )
            is None
        )


def test_a_text_channel_thread_opens_with_the_message_it_was_started_from_under_its_own_event_id() -> None:
    thread = Place(GUILD, 500, "ECG reading group", parent_id=GENERAL, parent_name="general")
    event = translate.thread_opened(place=thread, actor=ALICE, text="Interesting ECG", at=AT)
    assert (event.event_id, event.message_id, event.thread_id, event.starts_thread) == (
        "thread:500",
        "500",
        "500",
        True,
    )
    as_message = translate.message_event_id(500)
    assert as_message != event.event_id  # the starter was already seen as a plain channel message


def test_edits_carry_their_timestamp_and_embed_updates_are_not_edits() -> None:
    edited = translate.edited(message_id=7, place=IN_GENERAL, actor=ALICE, content="fixed", edited_at=AT)
    assert edited is not None and edited.event_id == f"edit:7:{AT.isoformat()}"
    again = translate.edited(
        message_id=7,
        place=IN_GENERAL,
        actor=ALICE,
        content="fixed twice",
        edited_at=AT + timedelta(minutes=1),
    )
    assert again is not None and again.event_id != edited.event_id
    assert translate.edited(message_id=7, place=IN_GENERAL, actor=ALICE, content="x", edited_at=None) is None


def test_reaction_ids_never_repeat_so_a_re_add_after_a_removal_is_not_swallowed() -> None:
    def react(added: bool, observation: str) -> ReactionAdded | ReactionRemoved:
        return translate.reaction(
            added=added,
            message_id=301,
            place=IN_FORUM_POST,
            actor=ALICE,
            emoji="👍",
            at=AT,
            observation=observation,
        )

    first, removal, second = react(True, "a1"), react(False, "b2"), react(True, "c3")
    assert isinstance(first, ReactionAdded) and isinstance(removal, ReactionRemoved)
    assert len({first.event_id, removal.event_id, second.event_id}) == 3
    assert first.event_id.startswith("reaction+:301:11:👍:")


def test_privilege_follows_discord_permissions() -> None:
    assert translate.privilege_of(None) is Privilege.MEMBER
    assert translate.privilege_of(discord.Permissions(send_messages=True)) is Privilege.MEMBER
    assert translate.privilege_of(discord.Permissions(moderate_members=True)) is Privilege.MODERATOR
    assert translate.privilege_of(discord.Permissions(manage_messages=True)) is Privilege.MODERATOR
    assert translate.privilege_of(discord.Permissions(administrator=True)) is Privilege.ADMIN
    assert translate.privilege_of(discord.Permissions.none(), is_owner=True) is Privilege.OWNER


def test_nobody_is_pinged_unless_named() -> None:
    rendered = translate.render(OutgoingMessage("@everyone look <@&5> <@11>", title="@here *loud*"))
    assert dict(rendered.allowed_mentions.to_dict()) == {"parse": []}
    assert rendered.chunks[0].startswith("**@here \\*loud\\***\n")
    named = translate.render(OutgoingMessage("<@11> earned a trophy", mention_user_ids=("11",)))
    assert dict(named.allowed_mentions.to_dict()) == {"parse": [], "users": [11]}


def test_long_answers_are_split_at_line_breaks_into_discord_sized_messages() -> None:
    text = "\n".join(f"line {i:04d} " + "x" * 80 for i in range(60))
    chunks = translate.split_content(text)
    assert len(chunks) > 1 and all(len(c) <= translate.MAX_CONTENT for c in chunks)
    assert "\n".join(chunks) == text
    assert translate.split_content("y" * 4500) == ["y" * 2000, "y" * 2000, "y" * 500]
    assert translate.split_content("") == ["\u200b"]


def test_a_send_nonce_is_stable_per_key_and_fits_discords_25_characters() -> None:
    nonce = translate.nonce_for("trophy:42:first-message")
    assert nonce == translate.nonce_for("trophy:42:first-message") and len(nonce) == 25
    assert nonce != translate.nonce_for("trophy:42:first-message#1")


def test_buttons_carry_their_command_in_the_custom_id() -> None:
    action = Action("Claim", ("case", "claim"), {"case": "#12"}, style="primary")
    custom_id = translate.encode_action(action)
    assert custom_id == "cb:a:case/claim?case=%2312"
    assert translate.decode_action(custom_id) == (("case", "claim"), {"case": "#12"})
    assert translate.decode_action("something-else") is None
    with pytest.raises(ValueError, match="100 characters"):
        translate.encode_action(Action("Too much", ("case", "claim"), {"note": "x" * 100}))


def test_a_form_remembers_its_command_fixed_options_and_target_message() -> None:
    form = Form("Report", ("report",), (FormField("reason", "Why?"),), options={"category": "spam"})
    custom_id = translate.encode_form(form, "123456789012345678")
    decoded = translate.decode_form(custom_id)
    assert decoded == translate.FormSubmission(("report",), {"category": "spam"}, 123456789012345678)
    assert translate.decode_form(translate.encode_form(form, None)) == translate.FormSubmission(
        ("report",), {"category": "spam"}
    )
    assert translate.decode_form(custom_id.replace("cb:f:", "cb:a:")) is None


def test_submitted_modal_values_are_read_from_rows_and_labels() -> None:
    rows = [{"type": 1, "components": [{"type": 4, "custom_id": "specialty", "value": " Cardiology "}]}]
    labels = [{"type": 18, "component": {"type": 4, "custom_id": "bio", "value": "Night owl"}}]
    empty = [{"type": 18, "component": {"type": 4, "custom_id": "gender", "value": ""}}]
    assert translate.form_values(rows + labels + empty) == {"specialty": "Cardiology", "bio": "Night owl"}
    assert translate.form_values(None) == {}


def test_timeouts_reach_at_most_28_days_less_a_margin_and_longer_mutes_are_renewed() -> None:
    assert translate.timeout_until(AT + timedelta(hours=1), AT) == AT + timedelta(hours=1)
    capped = translate.timeout_until(AT + timedelta(days=90), AT)
    assert capped == AT + timedelta(days=28) - translate.TIMEOUT_MARGIN
    assert "Moderate Members" in translate.timeout_refused("Dr. Bob")


def test_permalinks_and_thread_names() -> None:
    assert translate.permalink(1, 2, 3) == "https://discord.com/channels/1/2/3"
    assert translate.thread_name("  Night   shifts ") == "Night shifts"
    assert len(translate.thread_name("t" * 300)) == translate.MAX_THREAD_NAME


def test_cursor_scopes_are_per_thread_under_their_guild() -> None:
    assert translate.thread_scope(1, 2) == "thread:1/2" and translate.thread_scope(1, 2).startswith(
        translate.thread_scope_prefix(1)
    )
    moved = translate.cursor_moved(guild_id=1, scope="thread:1/2", value=99, at=AT)
    assert (moved.room.platform, moved.scope, moved.value) == (PlatformName.DISCORD, "thread:1/2", "99")


def test_observed_likes_become_the_reaction_events_that_make_the_store_agree() -> None:
    """Who reacts now (Discord) against who the store has: adds for the new, removals for the gone,
    nothing for the unchanged; a cleared message asserts that nobody reacts with its like keys."""
    bob = Actor(PlatformName.DISCORD, "12", "Dr. Bob")
    seen = likes.Observed(501, IN_FORUM_POST, {"👍": {11: ALICE, 12: bob}, "❤": {}})
    stored = {501: {"👍": {12, 13}, "❤": {11}}, 502: {"👍": {11}}}
    events = likes.differences([seen], stored, at=AT, observation="sync-1")
    assert [(type(e).__name__, e.actor.user_id, e.emoji) for e in events] == [
        ("ReactionAdded", "11", "👍"),
        ("ReactionRemoved", "13", "👍"),
        ("ReactionRemoved", "11", "❤"),
    ]
    assert events[0].actor.display_name == "Alice Adams"
    assert events[1].actor.display_name == ""  # known only by id: the stored name is kept
    assert {e.room for e in events} == {IN_FORUM_POST.room}
    assert len({e.event_id for e in events}) == 3

    cleared = likes.cleared(IN_FORUM_POST, 502, ["👍", "❤"])
    (removed,) = likes.differences([cleared], stored, at=AT, observation="clear-1")
    assert isinstance(removed, ReactionRemoved)
    assert (removed.message_id, removed.actor.user_id) == ("502", "11")


def test_a_hand_timeout_has_one_event_id_whichever_event_reports_it() -> None:
    """The audit entry (moderator, reason) and GUILD_MEMBER_UPDATE (neither) of one timeout are
    one event to the core, so the case log has it once; a lift is keyed by the end it cut short."""
    room = IN_GENERAL.room
    until = AT + timedelta(days=2)
    audited = translate.hand_timeout(
        room=room, target_id=11, actor_id=22, before=None, after=until, reason="Pile-on", at=AT
    )
    updated = translate.hand_timeout(
        room=room,
        target_id=11,
        actor_id=None,
        before=None,
        after=until,
        reason=None,
        at=AT + timedelta(seconds=1),
    )
    assert audited is not None and updated is not None
    assert audited.event_id == updated.event_id
    assert (updated.action, updated.actor_user_id, updated.until) == ("hand_mute", None, until)
    lifts = [
        translate.hand_timeout(
            room=room, target_id=11, actor_id=None, before=end, after=None, reason=None, at=AT
        )
        for end in (until, until + timedelta(days=1))
    ]
    assert [lift.action for lift in lifts if lift is not None] == ["hand_unmute", "hand_unmute"]
    assert len({lift.event_id for lift in lifts if lift is not None}) == 2
    # A timeout that had already run out is not lifted by anyone.
    assert (
        translate.hand_timeout(
            room=room,
            target_id=11,
            actor_id=None,
            before=AT - timedelta(hours=1),
            after=None,
            reason=None,
            at=AT,
        )
        is None
    )


def test_a_post_missing_from_a_stretch_the_sweep_read_is_deleted_and_nothing_outside_it() -> None:
    """Replies between the oldest message listed and the stored position that did not come back
    are gone; the forum starter counts once the listing reached the thread's start; a
    text-channel thread's opening post only when its deletion was confirmed."""
    read = deletions.Covered(IN_FORUM_POST, after=310, through=340, seen=frozenset({310, 330}))
    gone = deletions.vanished(read, [POST, 305, 310, 320, 330, 340, 350], at=AT)
    assert [(e.message_id, e.event_id) for e in gone] == [("320", "delete:320"), ("340", "delete:340")]
    whole = deletions.Covered(IN_FORUM_POST, after=0, through=340, seen=frozenset({310}))
    assert [e.message_id for e in deletions.vanished(whole, [POST, 310], at=AT)] == [str(POST)]
    text_thread = Place(GUILD, 500, "ECG", parent_id=GENERAL, parent_name="general")
    unconfirmed = deletions.Covered(text_thread, after=0, through=540, seen=frozenset({510}))
    assert deletions.vanished(unconfirmed, [500, 510], at=AT) == []
    confirmed = deletions.Covered(text_thread, after=0, through=540, seen=frozenset({510}), opening_gone=True)
    assert [e.message_id for e in deletions.vanished(confirmed, [500, 510], at=AT)] == ["500"]

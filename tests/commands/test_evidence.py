"""Source requests and cited notes, as members and clinicians use them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from chatbridge.store.tables import ModLogEntry, PostNote, SourceRequest
from support.forum import texts
from support.moderation import ModForum

from .test_credentials import badge_forum


@pytest.fixture
async def forum(tmp_path: Path) -> AsyncIterator[ModForum]:
    async with badge_forum(tmp_path) as running:
        await running.chat.say("!verify hend MD · Emergency Medicine", as_="mo")
        yield running


async def _hot_take(forum: ModForum) -> tuple[str, str]:
    chat = forum.chat
    thread = await chat.start_thread("Ketamine", "Ketamine is always safe in agitation.", as_="omar")
    return thread, thread


async def test_a_source_request_is_private_and_counted_once_per_member(forum: ModForum) -> None:
    chat = forum.chat
    thread, post = await _hot_take(forum)
    first = await chat.say("!source", as_="bob", thread=thread, reply_to=post)
    assert [s.ephemeral_for for s in first] == ["bob"]
    assert "I asked the author privately for a source" in texts(first) and "so far: 1" in texts(first)
    again = texts(await chat.say("!source", as_="bob", thread=thread, reply_to=post))
    assert again == "You have already asked; 1 member is waiting for a source."
    await chat.say("!source", as_="lina", thread=thread, reply_to=post)
    await chat.say("!source", as_="carol", thread=thread, reply_to=post)
    await forum.settle()
    dms = forum.dms("omar")
    assert dms.count("asked for a source for your post in **Ketamine**") == 1
    assert "bob" not in dms and "lina" not in dms
    card = texts(await chat.say("!thread show Ketamine", as_="dana"))
    assert "❓ source requested (3)" in card
    with forum.store() as session:
        assert len(session.exec(select(SourceRequest)).all()) == 3


async def test_source_refusals(forum: ModForum) -> None:
    chat = forum.chat
    thread, post = await _hot_take(forum)
    assert "That's your own post" in texts(
        await chat.say("!source", as_="omar", thread=thread, reply_to=post)
    )
    await chat.say("chit-chat outside threads", as_="bob")
    outside = chat.last_message_id("bob")
    assert "isn't a post in a forum thread" in texts(await chat.say("!source", as_="lina", reply_to=outside))
    await chat.say(
        "!cite 10.1056/NEJMoa2034577 Not always: see the trial.", as_="hend", thread=thread, reply_to=post
    )
    assert "already has a cited note" in texts(
        await chat.say("!source", as_="lina", thread=thread, reply_to=post)
    )


async def test_a_clinician_note_answers_the_request_and_shows_on_the_card_and_share(forum: ModForum) -> None:
    chat = forum.chat
    thread, post = await _hot_take(forum)
    await chat.say("!source", as_="bob", thread=thread, reply_to=post)
    added = texts(
        await chat.say(
            "!cite 10.1056/NEJMoa2034577 Laryngospasm and emergence reactions happen.",
            as_="hend",
            thread=thread,
            reply_to=post,
        )
    )
    line = (
        "📎 Note by hend · ✓ MD · Emergency Medicine: Laryngospasm and emergence reactions happen. — "
        "[doi\\:10.1056/NEJMoa2034577](<https://doi.org/10.1056/NEJMoa2034577>)"
    )
    assert "Note added:" in added and line in added
    card = texts(await chat.say("!thread show Ketamine", as_="dana"))
    assert line in card and "source requested" not in card
    share = texts(await chat.say("!share", as_="dana", thread=thread, reply_to=post))
    assert line in share


async def test_the_author_may_cite_their_own_post_and_edit_the_note(forum: ModForum) -> None:
    chat = forum.chat
    thread, post = await _hot_take(forum)
    assert "Note added:" in texts(
        await chat.say("!cite PMID 12345678 The cohort I meant.", as_="omar", thread=thread, reply_to=post)
    )
    edited = texts(
        await chat.say(
            "!cite NCT01234567 The trial, not the cohort.", as_="omar", thread=thread, reply_to=post
        )
    )
    assert "Note updated:" in edited
    assert "[NCT01234567](<https://clinicaltrials.gov/study/NCT01234567>)" in edited
    with forum.store() as session:
        notes = session.exec(select(PostNote)).all()
        assert [(n.citation, n.body) for n in notes] == [("NCT01234567", "The trial, not the cohort.")]


async def test_only_clinicians_and_the_author_may_cite(forum: ModForum) -> None:
    chat = forum.chat
    thread, post = await _hot_take(forum)
    refused = texts(await chat.say("!cite 10.1056/x A note", as_="bob", thread=thread, reply_to=post))
    assert "Only verified clinicians can add a note to someone else's post" in refused
    with forum.store() as session:
        assert session.exec(select(PostNote)).all() == []


async def test_a_citation_must_be_one_of_the_accepted_forms(forum: ModForum) -> None:
    chat = forum.chat
    thread, post = await _hot_take(forum)
    for bad in (
        "my-uncle-said so",
        "http://insecure.example/x note",
        "javascript:alert(1) note",
        "PMID abc x",
    ):
        answer = texts(await chat.say(f"!cite {bad}", as_="hend", thread=thread, reply_to=post))
        assert "is not a citation I can link. Use a DOI like 10.1056/NEJMoa2034577, a PubMed id" in answer
    assert "Please add a short note" in texts(
        await chat.say("!cite 10.1056/NEJMoa2034577", as_="hend", thread=thread, reply_to=post)
    )
    link = texts(
        await chat.say(
            "!cite https://www.nice.org.uk/guidance/ng10 Guidance", as_="hend", thread=thread, reply_to=post
        )
    )
    assert "(<https://www.nice.org.uk/guidance/ng10>)" in link


async def test_note_text_is_escaped(forum: ModForum) -> None:
    chat = forum.chat
    thread, post = await _hot_take(forum)
    answer = texts(
        await chat.say(
            "!cite 10.1056/x **Bold** @everyone [x](https://evil)", as_="hend", thread=thread, reply_to=post
        )
    )
    assert "\\*\\*Bold\\*\\*" in answer and "@everyone" not in answer and "[x](https" not in answer


async def test_notes_are_removed_by_their_author_or_a_moderator(forum: ModForum) -> None:
    chat = forum.chat
    thread, post = await _hot_take(forum)
    await chat.say("!cite 10.1056/x Clinician note", as_="hend", thread=thread, reply_to=post)
    await chat.say("!cite PMID 1 Author note", as_="omar", thread=thread, reply_to=post)
    assert "no note of yours" in texts(await chat.say("!uncite", as_="bob", thread=thread, reply_to=post))
    assert "Removed 1 note" in texts(await chat.say("!uncite", as_="omar", thread=thread, reply_to=post))
    assert "Removed 1 note" in texts(await chat.say("!uncite", as_="mo", thread=thread, reply_to=post))
    assert "Note by" not in texts(await chat.say("!thread show Ketamine", as_="dana"))
    with forum.store() as session:
        assert (
            len(session.exec(select(ModLogEntry).where(ModLogEntry.action == "post_note_removed")).all()) == 1
        )


async def test_notes_in_a_private_subforum_stay_there(forum: ModForum) -> None:
    chat = forum.chat
    await chat.make_private("Clinical Questions", ["omar", "hend"])
    thread = post = await chat.start_thread(
        "Staff case", "A private question.", as_="omar", in_="Clinical Questions"
    )
    await chat.say("!cite 10.1056/secret A note in private", as_="hend", thread=thread, reply_to=post)
    outsider = texts(await chat.say("!thread show Staff case", as_="bob"))
    assert "A note in private" not in outsider
    assert "A note in private" not in texts(await chat.say("!share Staff case", as_="bob"))


async def test_the_digest_shows_badges_requests_and_notes_and_ranks_sourced_posts_first(
    forum: ModForum,
) -> None:
    chat = forum.chat
    busy = await chat.start_thread("Ketamine", "Ketamine is always safe in agitation.", as_="omar")
    for name in ("bob", "lina", "carol", "dana"):
        await chat.say(f"{name} disagrees", as_=name, thread=busy)
    await chat.say("!source", as_="bob", thread=busy, reply_to=busy)
    calm = await chat.start_thread("Sepsis bundle", "The one-hour bundle helps.", as_="hend")
    for name in ("bob", "lina"):
        await chat.say(f"{name} agrees", as_=name, thread=calm)
    await chat.say("!cite PMID 29768911 The bundle trial.", as_="hend", thread=calm, reply_to=calm)
    chat.advance(timedelta(hours=2))

    digest = "\n".join(s.text for s in await chat.say("!digest preview", as_="mo"))
    sepsis = digest.index(
        "Sepsis bundle** in General Discussion · started by hend · ✓ MD · Emergency Medicine"
    )
    ketamine = digest.index("Ketamine** in General Discussion · started by omar")
    assert sepsis < ketamine  # busier, but its source was asked for and not given
    assert "· ❓ source requested (1)" in digest[ketamine:]
    assert "### 📎 Sources and notes this week" in digest
    assert (
        "- Note by hend · ✓ MD · Emergency Medicine on #2 Sepsis bundle: The bundle trial. — "
        "[PMID 29768911](<https://pubmed.ncbi.nlm.nih.gov/29768911/>)"
    ) in digest


async def test_a_moderator_turns_a_misinformation_report_into_a_source_request(forum: ModForum) -> None:
    chat = forum.chat
    thread, post = await _hot_take(forum)
    await chat.say("!report misinformation dangerous advice", as_="bob", thread=thread, reply_to=post)
    answer = texts(await chat.say("!case source #1", as_="mo"))
    assert "Asked the author privately for a source (case #1 stays open" in answer
    await forum.settle()
    assert "The moderators asked for a source for your post in **Ketamine**" in forum.dms("omar")
    assert "❓ source requested (1)" in texts(await chat.say("!thread show Ketamine", as_="dana"))
    refused = texts(await chat.say("!case source #1", as_="bob"))
    assert "Asked the author" not in refused and refused
    assert "a source asked for by mo (case #1)" in texts(await chat.say("!modlog omar", as_="mo"))

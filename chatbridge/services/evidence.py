"""Evidence on posts: private source requests, and cited notes by verified clinicians or authors.

A public "source?" under a hot take starts an argument; a private request counted on the card
does not. A note must carry a citation a reader can follow (a DOI, a PubMed id, a trial
registration, an https link), so it adds evidence rather than another opinion. Notes and request
counts are shown only where the post itself may be shown (callers check the audience first).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlmodel import Session, col, select

from chatbridge.errors import CommandError
from chatbridge.forum.text import quote_input
from chatbridge.services import credentials
from chatbridge.store.tables import Member, Post, PostNote, SourceRequest

log = logging.getLogger(__name__)

NOTE_MAX = 500
URL_MAX = 300
ACCEPTED = (
    "a DOI like 10.1056/NEJMoa2034577, a PubMed id like PMID 12345678, "
    "a trial id like NCT01234567, or an https link"
)
_DOI = re.compile(r"(?:doi:|https://(?:dx\.)?doi\.org/)?(10\.[0-9]{4,9}/[^\s<>\"]+)", re.IGNORECASE)
_PMID = re.compile(r"(?:PMID:?)?(\d{1,9})", re.IGNORECASE | re.ASCII)
_NCT = re.compile(r"NCT\d{8}", re.IGNORECASE | re.ASCII)


@dataclass(frozen=True, slots=True)
class Citation:
    """What a note cites: `label` as shown ("doi:10.1056/…") and where it leads."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class NoteView:
    """A note as rendered: who wrote it (with their badge), what it says and what it cites."""

    id: int
    post_id: int
    author: str
    badge: str | None
    body: str
    citation: Citation
    created_at: datetime


def parse_citation(text: str) -> tuple[Citation, str]:
    """The citation at the start of `text` and the rest (the note). "PMID 123" is two words."""
    words = text.strip().split(maxsplit=1)
    if not words:
        raise CommandError(f"Please give a citation and a note. A citation is {ACCEPTED}.")
    first, rest = words[0], words[1] if len(words) > 1 else ""
    if first.casefold() in {"pmid", "pmid:"}:
        more = rest.split(maxsplit=1)
        if more and more[0].isascii() and more[0].isdigit():
            first, rest = f"PMID{more[0]}", more[1] if len(more) > 1 else ""
    return _citation(first), rest.strip()


def _citation(token: str) -> Citation:
    doi = _DOI.fullmatch(token)
    if doi is not None:
        value = doi.group(1).rstrip(".,;)")
        return Citation(f"doi:{value}", f"https://doi.org/{value}")
    if token.upper().startswith("PMID"):
        pmid = _PMID.fullmatch(token)
        if pmid is not None:
            return Citation(f"PMID {pmid.group(1)}", f"https://pubmed.ncbi.nlm.nih.gov/{pmid.group(1)}/")
    if _NCT.fullmatch(token):
        trial = token.upper()
        return Citation(trial, f"https://clinicaltrials.gov/study/{trial}")
    if token.lower().startswith("https://") and len(token) <= URL_MAX:
        parts = urlsplit(token)
        if parts.netloc and "." in parts.netloc and token.isprintable():
            return Citation(token, token)
    raise CommandError(f"{quote_input(token)} is not a citation I can link. Use {ACCEPTED}.")


def citation_of(note: PostNote) -> Citation:
    """A stored note's citation (stored as its label), linked again."""
    return citation_from_label(note.citation)


def citation_from_label(label: str) -> Citation:
    return _citation(label.replace("PMID ", "PMID", 1))


def live_post(post: Post | None) -> Post:
    if post is None:
        raise CommandError("That isn't a post in a forum thread, so there is nothing to attach this to.")
    if post.deleted_at is not None or post.hidden:
        raise CommandError("That post was removed or hidden.")
    return post


def has_note(session: Session, post_id: int) -> bool:
    return (
        session.exec(
            select(PostNote.id).where(PostNote.post_id == post_id, col(PostNote.removed_at).is_(None))
        ).first()
        is not None
    )


def request_source(session: Session, post: Post, member: Member, now: datetime) -> tuple[bool, int]:
    """Count `member`'s request once; (whether it is new, how many members have asked)."""
    assert post.id is not None and member.id is not None
    existing = session.exec(
        select(SourceRequest).where(SourceRequest.post_id == post.id, SourceRequest.member_id == member.id)
    ).first()
    new = existing is None
    if new:
        session.add(SourceRequest(post_id=post.id, member_id=member.id, created_at=now))
        session.flush()
        log.info("source requested on post %s by member %s", post.id, member.id)
    count = session.exec(select(func.count()).where(SourceRequest.post_id == post.id)).one()
    return new, count


def open_requests(session: Session, post_ids: Collection[int]) -> dict[int, int]:
    """Members asking for a source, by post, for the posts no note answers yet."""
    wanted = list(set(post_ids))
    if not wanted:
        return {}
    answered = set(
        session.exec(
            select(PostNote.post_id).where(
                col(PostNote.post_id).in_(wanted), col(PostNote.removed_at).is_(None)
            )
        ).all()
    )
    rows = session.exec(
        select(SourceRequest.post_id, func.count())
        .where(col(SourceRequest.post_id).in_(wanted))
        .group_by(col(SourceRequest.post_id))
    ).all()
    return {post_id: n for post_id, n in rows if post_id not in answered}


def may_cite(session: Session, post: Post, member: Member, now: datetime) -> bool:
    """The post's author, for their own post, and any verified clinician."""
    assert member.id is not None
    return post.member_id == member.id or credentials.active(session, member.id, now) is not None


def cite(
    session: Session, *, post: Post, author: Member, citation: Citation, body: str, now: datetime
) -> tuple[PostNote, bool]:
    """Attach the note, or edit the author's own note on this post; (the note, whether edited)."""
    assert post.id is not None and author.id is not None
    mine = session.exec(
        select(PostNote).where(
            PostNote.post_id == post.id,
            PostNote.author_member_id == author.id,
            col(PostNote.removed_at).is_(None),
        )
    ).first()
    if mine is not None:
        mine.citation, mine.body, mine.edited_at = citation.label, body, now
        log.info("note %s edited by member %s", mine.id, author.id)
        return mine, True
    note = PostNote(
        community_id=author.community_id,
        post_id=post.id,
        author_member_id=author.id,
        citation=citation.label,
        body=body,
        created_at=now,
    )
    session.add(note)
    session.flush()
    log.info("note %s added to post %s by member %s", note.id, post.id, author.id)
    return note, False


def remove_notes(
    session: Session, *, post: Post, by: Member, everyone: bool, now: datetime
) -> list[PostNote]:
    """Remove the asker's note on the post, or every note when a moderator asks (`everyone`)."""
    query = select(PostNote).where(PostNote.post_id == post.id, col(PostNote.removed_at).is_(None))
    if not everyone:
        query = query.where(PostNote.author_member_id == by.id)
    removed = list(session.exec(query).all())
    for note in removed:
        note.removed_at = now
        log.info("note %s removed by member %s", note.id, by.id)
    return removed


def notes_for(session: Session, post_ids: Collection[int], now: datetime) -> dict[int, list[NoteView]]:
    """The live notes on these posts, oldest first, with their authors' names and badges."""
    wanted = list(set(post_ids))
    if not wanted:
        return {}
    rows = session.exec(
        select(PostNote, Member.display_name)
        .join(Member, col(Member.id) == col(PostNote.author_member_id))
        .where(col(PostNote.post_id).in_(wanted), col(PostNote.removed_at).is_(None))
        .order_by(col(PostNote.created_at), col(PostNote.id))
    ).all()
    found = credentials.badges(session, [note.author_member_id for note, _ in rows], now)
    views: dict[int, list[NoteView]] = defaultdict(list)
    for note, name in rows:
        assert note.id is not None
        views[note.post_id].append(
            NoteView(
                note.id,
                note.post_id,
                name,
                found.get(note.author_member_id),
                note.body,
                citation_of(note),
                note.created_at,
            )
        )
    return dict(views)


THREAD_NOTES = 3


def for_thread(session: Session, thread_id: int, now: datetime) -> tuple[list[NoteView], int]:
    """A thread card's evidence: its latest notes (oldest of them first) and how many members
    wait for a source on its shown posts; read along the thread's posts, never all of them."""
    shown = (
        col(Post.thread_id) == thread_id,
        col(Post.deleted_at).is_(None),
        col(Post.hidden).is_(False),
    )
    latest = session.exec(
        select(PostNote.post_id)
        .join(Post, col(Post.id) == col(PostNote.post_id))
        .where(*shown, col(PostNote.removed_at).is_(None))
        .order_by(col(PostNote.created_at).desc(), col(PostNote.id).desc())
        .limit(THREAD_NOTES)
    ).all()
    views = [v for post_views in notes_for(session, latest, now).values() for v in post_views]
    views = sorted(views, key=lambda v: (v.created_at, v.id))[-THREAD_NOTES:]
    answered = (
        select(PostNote.id)
        .where(col(PostNote.post_id) == col(Post.id), col(PostNote.removed_at).is_(None))
        .exists()
    )
    waiting = session.exec(
        select(func.count())
        .select_from(SourceRequest)
        .join(Post, col(Post.id) == col(SourceRequest.post_id))
        .where(*shown, ~answered)
    ).one()
    return views, waiting

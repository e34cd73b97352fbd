"""`chatbridge outbox`: an admin sees the set-aside actions and acts on them, one line each."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from chatbridge.cli import main
from chatbridge.store.engine import make_engine
from chatbridge.store.tables import OutboxItem

WHEN = datetime(2025, 7, 16, 9, 0, tzinfo=UTC)
SECRET = "Patient in bed 4 is a known drug seeker"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    for key in list(os.environ):
        if key.startswith("CHATBRIDGE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("CHATBRIDGE_DATABASE_URL", url)
    return url


def set_aside(url: str, *, dead: bool = True) -> int:
    assert main(["db", "upgrade"]) == 0
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            item = OutboxItem(
                platform="discord",
                kind="send",
                payload={"message": {"markdown": SECRET}},
                dedupe_key="note-1",
                created_at=WHEN,
                next_attempt_at=WHEN,
                attempts=8 if dead else 2,
                last_error="NotFound: 404 Not Found (error code: 10003): Unknown Channel",
                dead_at=WHEN if dead else None,
                dead_reason="NotFound: 404 Not Found (error code: 10003): Unknown Channel" if dead else None,
            )
            session.add(item)
            session.commit()
            assert item.id is not None
            return item.id
    finally:
        engine.dispose()


def test_list_prints_one_line_per_item_without_its_text(
    clean_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    item_id = set_aside(clean_env)
    capsys.readouterr()
    assert main(["outbox", "list"]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"#{item_id} send on discord community - set aside 2025-07-16 09:00 UTC after 8 attempt(s): "
        "NotFound: 404 Not Found (error code: 10003): Unknown Channel\n"
    )
    assert SECRET not in out


def test_drop_then_the_list_is_empty(clean_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    item_id = set_aside(clean_env)
    capsys.readouterr()
    assert main(["outbox", "drop", f"#{item_id}"]) == 0
    assert capsys.readouterr().out == f"outbox item {item_id} dropped\n"
    assert main(["outbox", "list"]) == 0
    assert capsys.readouterr().out == "no set-aside outbox items\n"
    assert main(["outbox", "retry", str(item_id)]) == 2
    assert capsys.readouterr().err == f"chatbridge: outbox: outbox item {item_id} is already done\n"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["outbox", "retry", "twelve"], "chatbridge: outbox: expected an item id such as 12, not 'twelve'\n"),
        (["outbox", "drop", "99"], "chatbridge: outbox: there is no outbox item 99\n"),
    ],
)
def test_bad_requests_are_one_line_and_exit_2(
    clean_env: str, argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    set_aside(clean_env)
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == said and captured.out == ""


def test_an_item_still_being_tried_is_not_dropped(clean_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    item_id = set_aside(clean_env, dead=False)
    capsys.readouterr()
    assert main(["outbox", "drop", str(item_id)]) == 2
    assert capsys.readouterr().err == (
        f"chatbridge: outbox: outbox item {item_id} is not set aside: it is still being tried\n"
    )


def test_a_store_never_migrated_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outbox", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run `chatbridge db upgrade` first?" in err
    assert "Traceback" not in err

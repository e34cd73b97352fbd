"""The command line: clear one-line errors, exit status 2, no tracebacks."""

from __future__ import annotations

import socket
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from chatbridge.cli import main
from chatbridge.store.migrate import head_revision


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("CHATBRIDGE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHATBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")


def test_a_broken_config_file_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[forum]\ntimezone = 'Mars/Olympus'\npage_sise = 5\n")
    assert main(["--config", str(config), "db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "forum.timezone: expected an IANA time zone" in err
    assert "forum.page_sise: unknown key (did you mean page_size?)" in err
    assert "Traceback" not in err


def test_invalid_toml_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[forum\n")
    assert main(["--config", str(config), "db", "upgrade"]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_a_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "db", "current"]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_secrets_are_refused_in_the_file_and_never_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "leaky.toml"
    config.write_text('[discord]\ntoken = "MTIz.very-secret-token"\n')
    assert main(["--config", str(config), "config"]) == 2
    err = capsys.readouterr().err
    assert "CHATBRIDGE_DISCORD_TOKEN" in err and "very-secret-token" not in err


def test_config_prints_settings_with_secrets_hidden(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBRIDGE_DISCORD_TOKEN", "MTIz.very-secret-token")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "very-secret-token" not in out and '"discord_token": "**********"' in out


def test_db_upgrade_then_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "current"]) == 0
    assert f"is at revision {head_revision()}" in capsys.readouterr().out


def test_an_unusable_database_path_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("CHATBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'a-file' / 'store.db'}")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chatbridge: cannot open the store") and "Traceback" not in err


def test_console_script_prints_a_transcript(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "demo.txt"
    script.write_text(
        "\n".join(
            [
                "# a moderator and two members",
                ":mod dana",
                'alice: !thread new "Night shifts" Tips welcome',
                "bob: Sleep in blocks.",
                ":react alice m4 👍",
                "dana: !thread lock here",
                ":in Clinical Questions",
                "carol: !thread list",
                'carol: !thread new "broken',
                "zed says hello",
            ]
        )
    )
    assert main(["console", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "[m3] bot: Thread #1 **Night shifts** started in General Discussion" in out
    assert "is now locked" in out
    assert "**Clinical Questions** · threads by latest activity" in out
    assert "opened but never closed" in out
    assert "console: don't know how to read 'zed says hello'" in out


def test_console_script_with_bytes_that_are_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A post keeps its text with U+FFFD where the bad bytes were; a command is refused in words."""
    script = tmp_path / "broken.txt"
    script.write_bytes(
        b'alice: !thread new "Nights" Tips\nbob: !thread show \xff\xfe\nbob: Sleep \xc3 in blocks\n'
    )
    assert main(["console", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "bob: Sleep \ufffd in blocks" in out
    assert "Part of that command arrived as a broken character" in out
    assert "Traceback" not in out


def test_console_on_a_missing_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "--script", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read script" in capsys.readouterr().err


def test_the_readme_demo_script_still_tells_its_story(capsys: pytest.CaptureFixture[str]) -> None:
    demo = Path(__file__).resolve().parents[2] / "scripts" / "demo.txt"
    assert main(["console", "--script", str(demo)]) == 0
    out = capsys.readouterr().out
    assert "· 1 reply · 1 like · last reply by bob 2 h ago" in out
    assert "Did you mean Egypt?" in out
    assert "Practicing medicine in: Egypt" in out
    assert "is locked, so your reply was not counted" in out
    assert "`!thread lock` is for moderators." in out


# -- every failure is one line, exit status 2, no traceback, data untouched -------------------------


def one_line_failure(err: str) -> str:
    """The one line a failure prints; fails the test if there is more, or a traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("chatbridge: ") and "Traceback" not in err
    return lines[0]


def make_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    return tmp_path / "store.db"


@pytest.mark.parametrize(
    "toml",
    [
        'DISCORD_TOKEN = "MTIz.very-secret-token"',
        'Discord_Token = "MTIz.very-secret-token"',
        'MATRIX_PASSWORD = "very-secret-token"',
        'matrix_access_token = "very-secret-token"',
        '[discord]\ntoken = "MTIz.very-secret-token"',
        '[Matrix]\nPassword = "very-secret-token"',
        '[matrix]\naccess-token = "very-secret-token"',
        '[moderation]\n[moderation.extra]\napi_key = "very-secret-token"',
        '[[moderation.warning_thresholds]]\npoints = 3\nmute = "1d"\nsecret = "very-secret-token"',
    ],
)
def test_a_secret_in_the_file_is_refused_whatever_its_spelling_or_section(
    toml: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "leaky.toml"
    config.write_text(toml + "\n")
    assert main(["--config", str(config), "config"]) == 2
    captured = capsys.readouterr()
    line = one_line_failure(captured.err)
    assert "secrets are not read from the config file" in line and "CHATBRIDGE_" in line
    assert "very-secret-token" not in captured.err + captured.out


def test_the_known_secrets_are_pointed_to_their_own_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "leaky.toml"
    config.write_text('Matrix_Password = "x"\n[MATRIX]\nACCESS_TOKEN = "y"\n')
    assert main(["--config", str(config), "config"]) == 2
    err = capsys.readouterr().err
    assert "Matrix_Password: secrets are not read from the config file; set CHATBRIDGE_MATRIX_PASSWORD" in err
    assert (
        "MATRIX.ACCESS_TOKEN: secrets are not read from the config file; set CHATBRIDGE_MATRIX_ACCESS_TOKEN"
        in err
    )


def test_config_masks_the_password_in_the_database_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBRIDGE_DATABASE_URL", "postgresql+psycopg://forum:pa55-w0rd@db.example/forum")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert (
        "pa55-w0rd" not in out and '"database_url": "postgresql+psycopg://forum:***@db.example/forum"' in out
    )


def test_a_corrupted_sqlite_file_is_one_line_and_left_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store.db"
    garbage = b"this was a store once\n" * 200
    store.write_bytes(garbage)
    for command in (
        ["db", "upgrade"],
        ["db", "current"],
        ["console", "--script", "-"],
        ["digest", "--community", "x"],
    ):
        monkeypatch.setattr("sys.stdin", __import__("io").StringIO("alice: hello\n"))
        assert main(command) == 2, command
        line = one_line_failure(capsys.readouterr().err)
        assert line == f"chatbridge: cannot open the store at sqlite:///{store}: file is not a database"
        assert store.read_bytes() == garbage


def test_a_store_made_by_a_newer_chatbridge_is_refused_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = make_store(tmp_path, capsys)
    with closing(sqlite3.connect(store)) as connection, connection:
        connection.execute("UPDATE alembic_version SET version_num = '9001'")
    before = store.read_bytes()
    for command in (["db", "upgrade"], ["console", "--script", "-"]):
        monkeypatch.setattr("sys.stdin", __import__("io").StringIO("alice: hello\n"))
        assert main(command) == 2, command
        line = one_line_failure(capsys.readouterr().err)
        assert "schema revision 9001, which this chatbridge does not know" in line
        assert "a newer chatbridge migrated it" in line
        assert store.read_bytes() == before
    assert main(["db", "current"]) == 0
    assert "9001 (made by a newer chatbridge" in capsys.readouterr().out


def test_a_config_file_that_is_not_utf8_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "latin1.toml"
    config.write_bytes('[forum]\ntimezone = "Europe/Zürich"\n'.encode("latin-1"))
    assert main(["--config", str(config), "config"]) == 2
    line = one_line_failure(capsys.readouterr().err)
    assert line == f"chatbridge: config: {config}: not valid UTF-8 (line 2); save the file as UTF-8"


def test_arrays_nested_2000_deep_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "deep.toml"
    config.write_text("x = " + "[" * 2000 + "]" * 2000 + "\n")
    assert main(["--config", str(config), "config"]) == 2
    line = one_line_failure(capsys.readouterr().err)
    assert line == f"chatbridge: config: {config}: not valid TOML: arrays or tables nested too deeply"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "CHATBRIDGE_FORUM__PAGE_SIZE",
            "ten",
            "CHATBRIDGE_FORUM__PAGE_SIZE: Input should be a valid integer",
        ),
        ("CHATBRIDGE_FORUM", "{page_size: 5", "CHATBRIDGE_FORUM: expected a JSON object"),
        (
            "CHATBRIDGE_MODERATION__MODERATORS",
            "alice",
            "CHATBRIDGE_MODERATION__MODERATORS: expected a JSON list",
        ),
        (
            "CHATBRIDGE_FORUM__COMMAND_PREFIXES",
            '["!"',
            "CHATBRIDGE_FORUM__COMMAND_PREFIXES: expected a JSON list",
        ),
        (
            "CHATBRIDGE_MATRIX__ENABLED",
            "maybe",
            "CHATBRIDGE_MATRIX__ENABLED: Input should be a valid boolean",
        ),
    ],
)
def test_a_bad_environment_value_is_one_line(
    variable: str,
    value: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["config"]) == 2
    line = one_line_failure(capsys.readouterr().err)
    assert line.startswith(f"chatbridge: config: {expected}")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read the trophy file: No such file or directory"),
        ("[[trophies]\nkey = 1\n", "not valid TOML"),
        ("[[trophies]]\nkey = 'x'\n", "trophies[0]"),
        ("trophies = " + "[" * 2000 + "]" * 2000 + "\n", "nested too deeply"),
    ],
)
def test_a_missing_or_malformed_trophies_file_is_refused_by_config_too(
    content: str | None, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trophies = tmp_path / "trophies.toml"
    if content is not None:
        trophies.write_text(content)
    config = tmp_path / "forum.toml"
    config.write_text(f"[forum]\ntrophies_file = '{trophies}'\n")
    for command in (["config"], ["db", "upgrade"]):
        assert main(["--config", str(config), *command]) == 2
        line = one_line_failure(capsys.readouterr().err)
        assert line.startswith(f"chatbridge: config: {config}: forum.trophies_file: {trophies}: ")
        assert expected in line
    assert not (tmp_path / "store.db").exists()


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file:forum?mode=memory&uri=true"]
)
def test_an_in_memory_database_is_refused_at_config_time(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBRIDGE_DATABASE_URL", url)
    for command in (["config"], ["console", "--script", "-"]):
        assert main(command) == 2
        line = one_line_failure(capsys.readouterr().err)
        assert line.startswith("chatbridge: config: CHATBRIDGE_DATABASE_URL: an in-memory SQLite database")
        assert "name a file: sqlite:///chatbridge.db" in line


def test_a_data_dir_that_is_a_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").write_text("not a directory")
    monkeypatch.setenv("CHATBRIDGE_DATA_DIR", str(tmp_path / "data"))
    assert main(["config"]) == 2
    line = one_line_failure(capsys.readouterr().err)
    data = str(tmp_path / "data")
    assert line == f"chatbridge: config: CHATBRIDGE_DATA_DIR: expected a directory, {data!r} is a file"


def test_a_postgresql_server_that_is_not_there_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(
        "CHATBRIDGE_DATABASE_URL", f"postgresql+psycopg://forum:pa55-w0rd@127.0.0.1:{port}/forum"
    )
    for command in (["db", "upgrade"], ["console", "--script", "-"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        line = one_line_failure(err)
        assert "cannot open the store" in line and "Connection refused" in line
        assert "pa55-w0rd" not in err


def test_a_failure_of_the_program_itself_is_still_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise LookupError("an unforeseen state")

    monkeypatch.setattr("chatbridge.store.migrate.upgrade", broken)
    assert main(["db", "upgrade"]) == 2
    line = one_line_failure(capsys.readouterr().err)
    assert line.startswith("chatbridge: unexpected error (LookupError: an unforeseen state)")


def test_a_database_url_that_cannot_be_parsed_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "CHATBRIDGE_DATABASE_URL", "postgresql+psycopg://forum:pa55:w0rd@db.example:5432x/forum"
    )
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    line = one_line_failure(err)
    assert line.startswith("chatbridge: config: CHATBRIDGE_DATABASE_URL: cannot be read as a database URL")
    assert "w0rd" not in err


@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_a_secrets_dir_that_is_not_a_directory_is_one_line(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = tmp_path / "secrets"
    if kind == "a file":
        secrets.write_text("MTIz.very-secret-token")
    monkeypatch.setenv("CHATBRIDGE_SECRETS_DIR", str(secrets))
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    line = one_line_failure(err)
    expected = f"expected a directory of secret files, {str(secrets)!r} is not one"
    assert line == f"chatbridge: config: CHATBRIDGE_SECRETS_DIR: {expected}"
    assert "very-secret-token" not in err


def test_a_console_script_that_is_not_utf8_is_read_with_replacement_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "latin1.txt"
    script.write_bytes("alice: Grüße aus Zürich\n".encode("latin-1"))
    assert main(["console", "--script", str(script)]) == 0
    assert "alice: Gr\ufffd\ufffde aus Z\ufffdrich" in capsys.readouterr().out


def test_a_line_that_names_a_secret_setting_is_printed_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBRIDGE_MATRIX__ENABLED", "true")
    monkeypatch.setenv("CHATBRIDGE_MATRIX__HOMESERVER", "https://matrix.example.org")
    monkeypatch.setenv("CHATBRIDGE_MATRIX__USER_ID", "@bot:example.org")
    assert main(["run"]) == 2
    line = one_line_failure(capsys.readouterr().err)
    assert line == (
        "chatbridge: config: CHATBRIDGE_MATRIX_PASSWORD or CHATBRIDGE_MATRIX_ACCESS_TOKEN: "
        "one is required to log in"
    )


def test_a_data_dir_that_cannot_be_made_is_one_line_before_the_sandbox_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("CHATBRIDGE_DATA_DIR", str(tmp_path / "a-file" / "data"))
    assert main(["run", "--port", "0"]) == 2
    line = one_line_failure(capsys.readouterr().err)
    assert line == f"chatbridge: cannot use {tmp_path / 'a-file' / 'data' / 'sandbox'}: Not a directory"

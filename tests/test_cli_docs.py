"""Every CLI command has help, and README.md documents every command and option (style.md §8.9,
after sqlite-utils' docs test)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from venue.cli import build_parser, main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")


def _commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """Every leaf command as (words, parser, one-line help)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                words = (*prefix, name)
                children = _commands(sub, words)
                found.extend(children or [(words, sub, helps.get(name) or "")])
    return found


COMMANDS = _commands(build_parser())
IDS = [" ".join(words) for words, _, _ in COMMANDS]


def test_the_cli_has_the_documented_commands() -> None:
    assert set(IDS) == {
        "serve", "demo", "account create", "deposit", "key create", "key revoke",
        "journal verify", "journal export", "announce",
    }  # fmt: skip


@pytest.mark.parametrize("words,parser,summary", COMMANDS, ids=IDS)
def test_every_command_has_a_summary_and_a_description(
    words: tuple[str, ...], parser: argparse.ArgumentParser, summary: str
) -> None:
    assert summary.strip(), f"venue {' '.join(words)} has no one-line help"
    assert parser.description and len(parser.description) > 40


@pytest.mark.parametrize("words,parser,summary", COMMANDS, ids=IDS)
def test_every_option_has_help(
    words: tuple[str, ...], parser: argparse.ArgumentParser, summary: str
) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"venue {' '.join(words)} {action.dest} has no help"


@pytest.mark.parametrize("words,parser,summary", COMMANDS, ids=IDS)
def test_every_command_and_option_is_in_the_readme(
    words: tuple[str, ...], parser: argparse.ArgumentParser, summary: str
) -> None:
    assert f"venue {' '.join(words)}" in README
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert option in README, f"README does not mention {option} of venue {' '.join(words)}"


@pytest.mark.parametrize("words", [w for w, _, _ in COMMANDS] + [()], ids=IDS + ["venue"])
def test_help_of_every_command_prints_and_exits_zero(
    words: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*words, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: venue")
    assert "--help" in out

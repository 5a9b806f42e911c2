"""One line per check (`✔`, `✖`, `–` not applicable, `!` a warning) and the exit code they add up to (pure)."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable

from ..exits import EXIT_FAILURE, EXIT_OK


class Mark(enum.Enum):
    PASS = '✔'
    FAIL = '✖'
    SKIP = '–'
    WARN = '!'


ASCII_MARKS = {Mark.PASS: 'OK  ', Mark.FAIL: 'FAIL', Mark.SKIP: '--  ', Mark.WARN: 'WARN'}


@dataclass(frozen=True)
class CheckLine:
    """What was checked, what was found and, for a failure, what to do about it."""

    mark: Mark
    subject: str
    detail: str
    hint: str = ''

    def render(self, *, ascii_only: bool = False) -> str:
        mark = ASCII_MARKS[self.mark] if ascii_only else self.mark.value
        arrow = '->' if ascii_only else '→'
        hint = f' {arrow} {self.hint}' if self.hint else ''
        return f'{mark} {self.subject}: {self.detail}{hint}'


def passed(subject: str, detail: str) -> CheckLine:
    return CheckLine(Mark.PASS, subject, detail)


def failed(subject: str, detail: str, hint: str = '') -> CheckLine:
    return CheckLine(Mark.FAIL, subject, detail, hint)


def skipped(subject: str, detail: str, hint: str = '') -> CheckLine:
    return CheckLine(Mark.SKIP, subject, detail, hint)


def warned(subject: str, detail: str, hint: str = '') -> CheckLine:
    return CheckLine(Mark.WARN, subject, detail, hint)


def summary(lines: Iterable[CheckLine]) -> tuple[str, int]:
    """The closing line and the exit code: 0 when nothing failed, 1 otherwise."""
    lines = list(lines)
    failures = sum(line.mark is Mark.FAIL for line in lines)
    checked = sum(line.mark in (Mark.PASS, Mark.FAIL) for line in lines)
    if failures:
        return f'{failures} of {checked} checks failed', EXIT_FAILURE
    return f'all {checked} checks passed', EXIT_OK

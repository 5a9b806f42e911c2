"""Check lines and the exit code they add up to (`loopnode.check.report`)."""
from __future__ import annotations

from loopnode.check.report import EXIT_FAILURE, EXIT_OK, failed, passed, skipped, summary, warned


def test_lines_render_with_marks_or_in_ascii() -> None:
    line = failed('port 127.0.0.1:8004', 'in use by another process', 'set NODE_PORT')
    assert line.render() == '✖ port 127.0.0.1:8004: in use by another process → set NODE_PORT'
    assert line.render(ascii_only=True) == 'FAIL port 127.0.0.1:8004: in use by another process -> set NODE_PORT'
    assert passed('login as robot', 'accepted').render() == '✔ login as robot: accepted'
    assert skipped('current_model', 'none yet').render(ascii_only=True) == '--   current_model: none yet'


def test_summary_counts_passes_and_failures_only() -> None:
    lines = [passed('a', 'ok'), skipped('b', 'n/a'), warned('c', 'alias')]
    assert summary(lines) == ('all 1 checks passed', EXIT_OK)
    assert summary([*lines, failed('d', 'no')]) == ('1 of 2 checks failed', EXIT_FAILURE)

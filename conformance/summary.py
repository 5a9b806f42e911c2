"""Pure summary of an Autobahn fuzzingclient report (`index.json`): counts, misses and per-group timing."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

BEHAVIOURS = ('OK', 'NON-STRICT', 'FAILED', 'INFORMATIONAL', 'UNIMPLEMENTED')
CLOSE_BEHAVIOURS = ('OK', 'INFORMATIONAL', 'WRONG CODE', 'UNCLEAN', 'FAILED')
MISSED_BEHAVIOURS = ('FAILED', 'NON-STRICT', 'UNIMPLEMENTED')
MISSED_CLOSE_BEHAVIOURS = ('WRONG CODE', 'UNCLEAN', 'FAILED')
DECLINED_GROUPS = ('12', '13')  # permessage-deflate, which fastws declines (RFC 6455 allows it)


def case_key(case_id: str) -> tuple[int, ...]:
    """Sort key for Autobahn case ids like '7.13.2' (numeric, not lexical)."""
    return tuple(int(part) for part in case_id.split('.'))


@dataclass
class Summary:
    """What one agent's run came to."""

    agent: str
    cases: int = 0
    behaviour: Counter = field(default_factory=Counter)
    close: Counter = field(default_factory=Counter)
    misses: dict[str, list[str]] = field(default_factory=dict)  # 'FAILED', 'close WRONG CODE', ... -> case ids
    duration_ms: dict[str, int] = field(default_factory=dict)  # top-level group ('9') -> sum of case durations
    server_cpu_s: float | None = None  # CPU time of the echo server over the run, if measured

    @property
    def passed(self) -> bool:
        return not self.misses and self.cases > 0


def summarize(index: dict[str, dict[str, dict[str, Any]]], agent: str | None = None) -> Summary:
    """Counts per behaviour and close behaviour, the cases that miss the goal, and durations per group."""
    if agent is None:
        if len(index) != 1:
            raise ValueError(f'report holds agents {sorted(index)}; name one')
        agent = next(iter(index))
    summary = Summary(agent)
    misses: dict[str, list[str]] = {}
    durations: Counter = Counter()
    for case_id in sorted(index[agent], key=case_key):
        result = index[agent][case_id]
        summary.cases += 1
        behaviour, close = result['behavior'], result['behaviorClose']
        summary.behaviour[behaviour] += 1
        summary.close[close] += 1
        if behaviour in MISSED_BEHAVIOURS:
            misses.setdefault(behaviour, []).append(case_id)
        if close in MISSED_CLOSE_BEHAVIOURS:
            misses.setdefault(f'close {close}', []).append(case_id)
        durations[case_id.split('.')[0]] += int(result.get('duration', 0))
    summary.misses = misses
    summary.duration_ms = dict(sorted(durations.items(), key=lambda item: int(item[0])))
    return summary


def render_markdown(summary: Summary) -> str:
    """The summary as the Markdown tables docs/websocket-conformance.md shows."""
    lines = [f'Agent `{summary.agent}`, {summary.cases} cases.', '',
             '| behaviour | ' + ' | '.join(BEHAVIOURS) + ' |', '|---' * (len(BEHAVIOURS) + 1) + '|',
             '| cases | ' + ' | '.join(str(summary.behaviour[b]) for b in BEHAVIOURS) + ' |', '',
             '| close behaviour | ' + ' | '.join(CLOSE_BEHAVIOURS) + ' |', '|---' * (len(CLOSE_BEHAVIOURS) + 1) + '|',
             '| cases | ' + ' | '.join(str(summary.close[b]) for b in CLOSE_BEHAVIOURS) + ' |', '',
             '| group | ' + ' | '.join(f'{g}.*' for g in summary.duration_ms) + ' |',
             '|---' * (len(summary.duration_ms) + 1) + '|',
             '| duration (ms) | ' + ' | '.join(str(ms) for ms in summary.duration_ms.values()) + ' |']
    if summary.server_cpu_s is not None:
        lines += ['', f'Echo server CPU over the run: {summary.server_cpu_s:.2f} s.']
    unknown = sorted(set(summary.behaviour) - set(BEHAVIOURS)) + sorted(set(summary.close) - set(CLOSE_BEHAVIOURS))
    if unknown:
        lines += ['', 'Other behaviours: ' + ', '.join(unknown)]
    if summary.misses:
        lines += ['', 'Missed:']
        lines += [f'- {what}: {", ".join(cases)}' for what, cases in summary.misses.items()]
    else:
        lines += ['', 'Goal met: no FAILED, NON-STRICT or UNIMPLEMENTED case, no wrong or unclean close.']
    return '\n'.join(lines)

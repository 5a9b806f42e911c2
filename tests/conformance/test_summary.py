"""conformance/summary.py: counting an Autobahn fuzzingclient index.json and judging the goal."""
from __future__ import annotations

from pathlib import Path

import pytest

from conformance.run_autobahn import fuzzing_spec
from conformance.summary import case_key, render_markdown, summarize


def result(behavior: str = 'OK', close: str = 'OK', duration: int = 1) -> dict:
    return {'behavior': behavior, 'behaviorClose': close, 'duration': duration, 'remoteCloseCode': 1000}


def test_counts_misses_and_durations_per_group() -> None:
    index = {'fastws': {'1.1.1': result(duration=3), '2.5': result('FAILED', 'FAILED'), '6.4.1': result('NON-STRICT'),
                        '7.9.1': result('OK', 'WRONG CODE'), '7.1.6': result('INFORMATIONAL', 'INFORMATIONAL'),
                        '9.1.1': result(duration=100), '9.10.1': result(duration=20), '9.2.1': result(duration=5)}}
    summary = summarize(index)
    assert summary.agent == 'fastws' and summary.cases == 8
    assert summary.behaviour == {'OK': 5, 'FAILED': 1, 'NON-STRICT': 1, 'INFORMATIONAL': 1}
    assert summary.close == {'OK': 5, 'FAILED': 1, 'WRONG CODE': 1, 'INFORMATIONAL': 1}
    assert summary.misses == {'FAILED': ['2.5'], 'close FAILED': ['2.5'], 'NON-STRICT': ['6.4.1'],
                              'close WRONG CODE': ['7.9.1']}
    assert summary.duration_ms == {'1': 3, '2': 1, '6': 1, '7': 2, '9': 125}
    assert not summary.passed
    text = render_markdown(summary)
    assert '| cases | 5 | 1 | 1 | 1 | 0 |' in text and '- close WRONG CODE: 7.9.1' in text


def test_all_ok_and_informational_passes() -> None:
    summary = summarize({'a': {'1.1.1': result(), '7.1.6': result('INFORMATIONAL', 'INFORMATIONAL')}})
    assert summary.passed and summary.misses == {}
    assert 'Goal met' in render_markdown(summary) and 'CPU' not in render_markdown(summary)
    summary.server_cpu_s = 1.234
    assert 'Echo server CPU over the run: 1.23 s.' in render_markdown(summary)


def test_unclean_close_and_empty_report_miss_the_goal() -> None:
    assert summarize({'a': {'1.1.3': result('OK', 'UNCLEAN')}}).misses == {'close UNCLEAN': ['1.1.3']}
    assert not summarize({'a': {}}).passed


def test_agent_must_be_named_when_the_report_holds_several() -> None:
    with pytest.raises(ValueError, match='name one'):
        summarize({'a': {}, 'b': {}})
    assert summarize({'a': {}, 'b': {'2.1': result()}}, 'b').cases == 1


def test_case_ids_sort_numerically() -> None:
    assert sorted(['9.10.1', '9.2.1', '10.1.1', '1.1.10', '1.1.2'], key=case_key) == \
        ['1.1.2', '1.1.10', '9.2.1', '9.10.1', '10.1.1']


def test_spec_excludes_the_compression_groups(tmp_path: Path) -> None:
    spec = fuzzing_spec('ws://127.0.0.1:1', 'fastws', tmp_path, ['*'])
    assert spec['exclude-cases'] == ['12.*', '13.*'] and spec['servers'] == [{'agent': 'fastws',
                                                                              'url': 'ws://127.0.0.1:1'}]

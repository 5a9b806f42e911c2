"""Unit tests of the converter's pure parts: retry schedule (§B5), candidate selection and listings (§B2),
the model.json rules, and the safe unzip of the source."""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest

from loopnode.converter.passes import (ListingError, ModelEntry, ProjectRef, categories_from_project,
                                       copy_from_model_json, generated_model_json, model_information,
                                       models_from_listing, projects_from_listing, safe_component,
                                       scoped_project, select_candidates, skip_reason)
from loopnode.converter.retry import RetrySchedule, retry_delay
from loopnode.converter.source import SourceError, extract_source, prepare_model_folder, read_model_json
from loopnode.data import Category
from tests.converter.conftest import FakeClock, zip_of


def test_c4_retry_delays_double_from_5_minutes_up_to_6_hours() -> None:
    """C4/§B5: after failure k the wait is min(300 × 2^(k-1), 21600) s, never infinite."""
    assert [retry_delay(k) for k in range(1, 9)] == [300, 600, 1200, 2400, 4800, 9600, 19200, 21600]
    assert retry_delay(1000) == 21600 and retry_delay(0) == 0


def test_c4_retry_schedule_with_fake_clock() -> None:
    """C4: waiting until the delay has passed; a success resets; the count is per model and consecutive."""
    clock = FakeClock()
    schedule = RetrySchedule(clock)
    assert not schedule.waiting('m')
    schedule.record_failure('m', 'boom', organization='o', project='p', version='1.0')
    assert schedule.waiting('m') and not schedule.waiting('other')
    clock.advance(299.9)
    assert schedule.waiting('m')
    clock.advance(0.1)
    assert not schedule.waiting('m')
    failure = schedule.record_failure('m', 'boom again')
    assert failure.failures == 2 and schedule.seconds_until(failure) == 600
    for _ in range(20):
        failure = schedule.record_failure('m', 'still')
    assert schedule.seconds_until(failure) == 21600
    schedule.record_success('m')
    assert schedule.failure('m') is None and not schedule.waiting('m')
    assert schedule.record_failure('m', 'fresh').failures == 1


def entry(model_id: str, version: str | None = '1.0', formats: tuple[str, ...] = ('a',)) -> ModelEntry:
    return ModelEntry(model_id, version, formats)


def test_c3_candidate_rules() -> None:
    """C3/§B2 step 3: version, source format, no target format, not waiting, not done; list order kept."""
    listed = [entry('no-version', None), entry('empty', ''), entry('b-only', formats=('b',)),
              entry('has-target', formats=('a', 'b')), entry('waiting'), entry('done'), entry('z'), entry('y')]
    chosen = select_candidates(listed, 'a', 'b', waiting=lambda i: i == 'waiting', done=lambda i: i == 'done')
    assert [m.id for m in chosen] == ['z', 'y']
    reasons = {m.id: skip_reason(m, 'a', 'b', waiting=m.id == 'waiting', done=m.id == 'done') for m in listed}
    assert reasons == {'no-version': 'no version', 'empty': 'no version', 'b-only': 'no a format',
                       'has-target': 'already has b', 'waiting': 'waiting for a retry',
                       'done': 'b already uploaded by this process', 'z': None, 'y': None}


def test_c6_scope_rules() -> None:
    """C6/§B2 step 1: both set → one project without a listing; org only / project only / neither filter it."""
    assert scoped_project('o', 'p') == ProjectRef('o', 'p', '/o/projects/p')
    assert scoped_project('o', None) is None and scoped_project(None, 'p') is None
    body = {'projects': [{'organization_id': 'o', 'project_id': 'p', 'resource': '/o/projects/p'},
                         {'organization_id': 'o', 'project_id': 'q'},
                         {'organization_id': 'x', 'project_id': 'p', 'resource': '/x/projects/p'}]}
    assert [r.label for r in projects_from_listing(body, 'o', None)[0]] == ['o/p', 'o/q']
    assert [r.label for r in projects_from_listing(body, None, 'p')[0]] == ['o/p', 'x/p']
    assert [r.label for r in projects_from_listing(body, None, None)[0]] == ['o/p', 'o/q', 'x/p']


def test_listings_reject_bad_shapes_and_unsafe_ids() -> None:
    """Malformed answers raise ListingError; unsafe ids (folder names) are problems, not projects/models."""
    bad: Any
    for bad in (None, [], {'projects': {}}):
        with pytest.raises(ListingError):
            projects_from_listing(bad, None, None)
    refs, problems = projects_from_listing({'projects': [
        {'organization_id': '..', 'project_id': 'p'}, {'organization_id': 'o', 'project_id': 'a/b'}, 7,
        {'organization_id': 'o', 'project_id': 'p', 'resource': '/evil/projects/p'}]}, None, None)
    assert [r.resource for r in refs] == ['/o/projects/p'] and len(problems) == 4
    with pytest.raises(ListingError):
        models_from_listing({'models': None})
    models, problems = models_from_listing({'models': [
        {'id': 'm', 'version': 1.0, 'formats': ['a']}, {'id': '.hidden', 'formats': []}, {'id': 'n', 'formats': [1]}]})
    assert models == [ModelEntry('m', None, ('a',))] and len(problems) == 2
    assert not safe_component('') and not safe_component('a..b') and not safe_component(None)
    assert safe_component('00000000-0000-0000-0000-000000000010')
    with pytest.raises(ListingError):
        categories_from_project({'categories': [{'name': 'no id'}]})
    assert categories_from_project({'categories': [{'id': 'c', 'name': 'n', 'type': 'box'}]})[0].type == 'box'


def test_c2_model_information_and_copied_fields() -> None:
    """C2/§B2 step 4.3: project categories; resolution, model_size, conf_threshold copied when well typed."""
    info = model_information(ProjectRef.of('o', 'p'), entry('m', '2.1'), [Category(id='c', name='n')], 'http://h')
    assert (info.id, info.host, info.organization, info.project, info.version) == ('m', 'http://h', 'o', 'p', '2.1')
    notes = copy_from_model_json(info, {'resolution': 416.0, 'model_size': 's6', 'conf_threshold': 1,
                                        'id': 'ignored'})
    assert notes == [] and (info.resolution, info.model_size, info.conf_threshold) == (416, 's6', 1.0)
    notes = copy_from_model_json(info, {'resolution': '640', 'model_size': 5, 'conf_threshold': True})
    assert len(notes) == 3 and info.resolution == 416
    assert copy_from_model_json(info, None) == [] and len(copy_from_model_json(info, [1])) == 1


def test_c8_generated_model_json_shape() -> None:
    """C8: the generated model.json is the ModelInformation with the target format and no model_root_path."""
    info = model_information(ProjectRef.of('o', 'p'), entry('m'), [], 'http://h')
    info.model_root_path = '/somewhere'
    generated = generated_model_json(info, 'tensorrt')
    assert generated['format'] == 'tensorrt' and 'model_root_path' not in generated and generated['id'] == 'm'


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    path.write_bytes(zip_of(files))
    return path


def test_extract_keeps_subfolders_and_uses_a_single_top_folder_as_root(tmp_path: Path) -> None:
    """Safe unzip: sub-folders kept; `top/model.json` makes `top/` the root; a zip without model.json is fine."""
    folder = prepare_model_folder(tmp_path, 'o', 'p', 'm')
    written = extract_source(write_zip(tmp_path / 'a.zip', {'top/model.json': b'{"resolution": 1}',
                                                            'top/w/x.bin': b'x'}), folder)
    assert sorted(str(p.relative_to(folder)) for p in written) == ['model.json', 'w/x.bin']
    assert read_model_json(folder) == ({'resolution': 1}, None)
    folder = prepare_model_folder(tmp_path, 'o', 'p', 'm')  # emptied and recreated
    assert list(folder.iterdir()) == []
    extract_source(write_zip(tmp_path / 'b.zip', {'weights.bin': b'w'}), folder)
    assert read_model_json(folder) == (None, None)
    (folder / 'model.json').write_text('{broken')
    assert (read_model_json(folder)[1] or '').startswith('model.json is not JSON')


def test_extract_refuses_unsafe_or_empty_zips(tmp_path: Path) -> None:
    """Traversal, absolute paths, symlinks, no files, not a zip: SourceError before anything is written."""
    folder = tmp_path / 'm'
    folder.mkdir()
    cases = {'traversal': {'ok.txt': b'1', '../x.txt': b'2'}, 'absolute': {'/etc/x': b'1'}, 'empty': {}}
    for name, files in cases.items():
        with pytest.raises(SourceError):
            extract_source(write_zip(tmp_path / f'{name}.zip', files), folder)
        assert list(folder.iterdir()) == [], name
    link = zipfile.ZipInfo('link')
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / 'link.zip', 'w') as archive:
        archive.writestr(link, '/etc/passwd')
    with pytest.raises(SourceError, match='symbolic link'):
        extract_source(tmp_path / 'link.zip', folder)
    (tmp_path / 'junk.zip').write_bytes(b'junk')
    with pytest.raises(SourceError, match='not a zip'):
        extract_source(tmp_path / 'junk.zip', folder)
    truncated = zip_of({'big.bin': b'x' * 10000})
    (tmp_path / 'cut.zip').write_bytes(truncated[:200] + truncated[-100:])
    with pytest.raises(SourceError):
        extract_source(tmp_path / 'cut.zip', folder)


def test_public_api() -> None:
    """`ConverterLogic`/`ConverterNode` from `loopnode`, `MockConverterLogic` from `loopnode.converter` (§B4)."""
    import loopnode
    from loopnode.converter import ConverterLogic, ConverterNode, MockConverterLogic
    assert loopnode.ConverterLogic is ConverterLogic and loopnode.ConverterNode is ConverterNode
    assert {'ConverterLogic', 'ConverterNode'} <= set(loopnode.__all__)
    mock = MockConverterLogic()
    assert (mock.source_format, mock.target_format) == ('mocked', 'mocked_converted')
    assert isinstance(mock, ConverterLogic) and not mock.cancel_token.is_set() and mock.model_folder is None
    with pytest.raises(ValueError):
        MockConverterLogic('same', 'same')
    with pytest.raises(NotImplementedError):
        ConverterLogic('a', 'b').get_converted_files('m')

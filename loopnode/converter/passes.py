"""Pure rules of a conversion pass (annotator-converter.md §B2): project scope, listings, candidates, model.json.

No I/O here: the pass runner (`runner.py`) feeds in the Loop's answers and acts on the results. Ids taken
from the Loop become folder names under `{DATA}`, so they must be single safe path components.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..data import Category, DataError, ModelInformation

_SAFE_COMPONENT = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$')


class ListingError(ValueError):
    """A Loop answer that does not have the documented shape; the message says what is wrong."""


def safe_component(value: Any) -> bool:
    """True for a string usable as one folder name: letters, digits, `_.-`, no leading dot, not `..`."""
    return isinstance(value, str) and bool(_SAFE_COMPONENT.match(value)) and '..' not in value


@dataclass(frozen=True)
class ProjectRef:
    """One project to scan; `resource` is `/{org}/projects/{project}` and is requested as `/api{resource}`."""

    organization: str
    project: str
    resource: str

    @classmethod
    def of(cls, organization: str, project: str) -> 'ProjectRef':
        return cls(organization, project, f'/{organization}/projects/{project}')

    @property
    def label(self) -> str:
        return f'{self.organization}/{self.project}'


@dataclass(frozen=True)
class ModelEntry:
    """The fields of a ModelListEntry (loop-protocol.md §5.7) a converter needs."""

    id: str
    version: str | None
    formats: tuple[str, ...]


def scoped_project(organization: str | None, project: str | None) -> ProjectRef | None:
    """The single project when LOOP_ORGANIZATION and LOOP_PROJECT are both set (no `GET /api/projects`)."""
    if organization and project:
        return ProjectRef.of(organization, project)
    return None


def projects_from_listing(body: Any, organization: str | None, project: str | None) -> tuple[list[ProjectRef], list[str]]:
    """Projects of a `GET /api/projects` answer inside the scope, and a problem line per unusable entry.

    Only the organization set → entries with that `organization_id`; neither → every entry. Only the
    project set (the spec is silent) → entries with that `project_id` in any organization. A missing or
    odd `resource` is rebuilt from the ids. Raises ListingError when the answer is not a project list.
    """
    if not isinstance(body, dict) or not isinstance(body.get('projects'), list):
        raise ListingError('expected {"projects": [...]}')
    refs: list[ProjectRef] = []
    problems: list[str] = []
    for index, entry in enumerate(body['projects']):
        if not isinstance(entry, dict):
            problems.append(f'projects[{index}]: not an object')
            continue
        org, name = entry.get('organization_id'), entry.get('project_id')
        if not safe_component(org) or not safe_component(name):
            problems.append(f'projects[{index}]: organization_id/project_id missing or unsafe: {org!r}/{name!r}')
            continue
        if organization and org != organization:
            continue
        if project and name != project:
            continue
        ref = ProjectRef.of(str(org), str(name))
        resource = entry.get('resource')
        if isinstance(resource, str) and resource != ref.resource:
            problems.append(f'projects[{index}]: resource {resource!r} does not match its ids; using {ref.resource}')
        refs.append(ref)
    return refs, problems


def categories_from_project(body: Any) -> list[Category]:
    """The `categories` of a `GET /api{resource}` answer; ListingError when missing or malformed."""
    if not isinstance(body, dict) or not isinstance(body.get('categories'), list):
        raise ListingError('expected a project object with "categories": [...]')
    try:
        return [Category.from_dict(c, path=f'categories[{i}]') for i, c in enumerate(body['categories'])]
    except DataError as e:
        raise ListingError(str(e)) from None


def models_from_listing(body: Any) -> tuple[list[ModelEntry], list[str]]:
    """Model entries of a `GET /api{resource}/models` answer, and a problem line per unusable entry.

    Raises ListingError when the answer is not a model list. An entry without a usable `id` or with
    `formats` that is not a list of strings is left out (with a problem line); a missing or non-string
    `version` becomes None (such models are not converted, §B2 step 3).
    """
    if not isinstance(body, dict) or not isinstance(body.get('models'), list):
        raise ListingError('expected {"models": [...]}')
    entries: list[ModelEntry] = []
    problems: list[str] = []
    for index, entry in enumerate(body['models']):
        if not isinstance(entry, dict):
            problems.append(f'models[{index}]: not an object')
            continue
        model_id, formats = entry.get('id'), entry.get('formats')
        if not safe_component(model_id):
            problems.append(f'models[{index}]: id missing or unsafe: {model_id!r}')
            continue
        if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
            problems.append(f'model {model_id}: formats is not a list of strings: {formats!r}')
            continue
        version = entry.get('version')
        entries.append(ModelEntry(str(model_id), version if isinstance(version, str) else None, tuple(formats)))
    return entries, problems


def skip_reason(model: ModelEntry, source_format: str, target_format: str, *, waiting: bool, done: bool) -> str | None:
    """Why a listed model is not converted in this pass, or None when it is a candidate (§B2 step 3)."""
    if not model.version:
        return 'no version'
    if source_format not in model.formats:
        return f'no {source_format} format'
    if target_format in model.formats:
        return f'already has {target_format}'
    if done:
        return f'{target_format} already uploaded by this process'
    if waiting:
        return 'waiting for a retry'
    return None


def select_candidates(models: Iterable[ModelEntry], source_format: str, target_format: str, *,
                      waiting: Callable[[str], bool], done: Callable[[str], bool]) -> list[ModelEntry]:
    """The models to convert, in list order."""
    return [m for m in models
            if skip_reason(m, source_format, target_format, waiting=waiting(m.id), done=done(m.id)) is None]


def needs_conversion(model: ModelEntry, source_format: str, target_format: str) -> bool:
    """True while a model lacks the target format (a failing model that no longer does is forgotten)."""
    return bool(model.version) and source_format in model.formats and target_format not in model.formats


def model_information(ref: ProjectRef, model: ModelEntry, categories: list[Category], host: str) -> ModelInformation:
    """ModelInformation of a candidate before its download (§B2 step 4.3)."""
    assert model.version is not None
    return ModelInformation(id=model.id, host=host, organization=ref.organization, project=ref.project,
                            version=model.version, categories=list(categories))


def copy_from_model_json(info: ModelInformation, downloaded: Any) -> list[str]:
    """Copy `resolution`, `model_size`, `conf_threshold` of the downloaded model.json into `info`.

    Values of the wrong type are ignored; returns a note for each. **Differs from upstream:** only
    `resolution` was copied.
    """
    if not isinstance(downloaded, dict):
        return ['model.json is not a JSON object; nothing copied'] if downloaded is not None else []
    notes: list[str] = []
    checks: dict[str, Callable[[Any], bool]] = {
        'resolution': lambda v: (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer()),
        'model_size': lambda v: isinstance(v, str),
        'conf_threshold': lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    }
    for key, ok in checks.items():
        value = downloaded.get(key)
        if value is None:
            continue
        if not ok(value):
            notes.append(f'model.json {key} {value!r} ignored (wrong type)')
            continue
        if key == 'resolution':
            value = int(value)
        elif key == 'conf_threshold':
            value = float(value)
        setattr(info, key, value)
    return notes


def generated_model_json(info: ModelInformation, target_format: str) -> dict[str, Any]:
    """The model.json the node adds when the logic lists none (§B2 step 4.5): no `model_root_path`."""
    return {**info.to_dict(include_root_path=False), 'format': target_format}

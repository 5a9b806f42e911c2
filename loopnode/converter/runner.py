"""ConversionRunner: the I/O of one conversion pass (annotator-converter.md §B2, §B3, §B5).

Lists the projects in scope, their categories and models, picks the candidates (`passes.py`), and for each
one runs the logic's `convert` and `upload_model`. Any error is logged with the model id and its cause, the
model goes on the retry schedule (`retry.py`) and the pass goes on with the next model or project.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from ..data import Category, Context, ModelInformation
from ..errors import LoopLoginError, NodeNeedsRestartError
from ..fsutil import atomic_write_json
from ..isotime import now_iso
from ..loop.http import DownloadError, LoopHttp
from ..settings import Settings
from .logic import ConversionCancelled, ConverterLogic
from .passes import (ListingError, ModelEntry, ProjectRef, categories_from_project, copy_from_model_json,
                     generated_model_json, model_information, models_from_listing, needs_conversion,
                     projects_from_listing, scoped_project, select_candidates, skip_reason)
from .retry import RetrySchedule
from .source import SourceError, extract_source, prepare_model_folder, read_model_json

log = logging.getLogger(__name__)

EXPECTED_ERRORS = (SourceError, DownloadError, LoopLoginError, requests.RequestException)


class UploadFailed(Exception):
    """The converted files were not accepted (an answer other than 200 or 409, or unusable files)."""


@dataclass
class PassReport:
    """What one pass did, for `GET /status` and the log."""

    started: str = field(default_factory=now_iso)
    ended: str | None = None
    projects: int = 0
    candidates: int = 0
    converted: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    cancelled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {'started': self.started, 'ended': self.ended, 'projects': self.projects,
                'candidates': self.candidates, 'converted': self.converted, 'failed': self.failed,
                'errors': list(self.errors), 'cancelled': self.cancelled}


class ConversionRunner:
    """Runs passes with one logic; remembers what it uploaded (no second upload after a 200 or 409)."""

    def __init__(self, settings: Settings, http: LoopHttp, logic: ConverterLogic, retry: RetrySchedule) -> None:
        self.settings = settings
        self.http = http
        self.logic = logic
        self.retry = retry
        self.converted_total = 0
        self._done: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._current: ModelInformation | None = None

    # ---- one pass ----------------------------------------------------------------------------------------

    def run_pass(self, stop: threading.Event) -> PassReport:
        """One pass over every project in scope; never raises for Loop or model errors."""
        report = PassReport()
        try:
            for ref in self._projects(report):
                if stop.is_set() or self.logic.cancel_token.is_set():
                    report.cancelled = True
                    break
                report.projects += 1
                if not self._scan_project(ref, report, stop):
                    break
        finally:
            report.ended = now_iso()
        busy = report.candidates or report.failed or report.cancelled  # an empty pass every minute is no news
        log.log(logging.INFO if busy else logging.DEBUG,
                'conversion pass done: %d project(s), %d candidate(s), %d converted, %d failed%s',
                report.projects, report.candidates, report.converted, report.failed,
                ' (cancelled)' if report.cancelled else '')
        return report

    def _pass_error(self, report: PassReport, message: str) -> None:
        log.warning('%s', message)
        report.errors.append(message)

    def _get_json(self, path: str) -> tuple[int, Any]:
        """(status, parsed body or None) of a GET; raises for transport errors."""
        response = self.http.get(path)
        try:
            body = response.json() if response.status_code == 200 else None
        except ValueError:
            body = None
        finally:
            response.close()
        return response.status_code, body

    def _projects(self, report: PassReport) -> list[ProjectRef]:
        """The projects in scope (§B2 step 1); a failed listing is a pass-level error (the next pass retries)."""
        organization, project = self.settings.loop_organization, self.settings.loop_project
        single = scoped_project(organization, project)
        if single is not None:
            return [single]
        try:
            status, body = self._get_json('/projects')
        except (requests.RequestException, LoopLoginError) as e:
            self._pass_error(report, f'GET /api/projects failed: {type(e).__name__}: {e}')
            return []
        if status != 200:
            self._pass_error(report, f'GET /api/projects answered HTTP {status}')
            return []
        try:
            refs, problems = projects_from_listing(body, organization, project)
        except ListingError as e:
            self._pass_error(report, f'GET /api/projects: malformed answer: {e}')
            return []
        for problem in problems:
            self._pass_error(report, f'GET /api/projects: {problem}')
        listed = {(r.organization, r.project) for r in refs}
        gone = {f.model_id for f in self.retry.failures() if (f.organization, f.project) not in listed}
        if gone:
            log.info('forgetting the failures of %s (their project is no longer listed)', ', '.join(sorted(gone)))
            self.retry.forget(gone)
        return refs

    def _scan_project(self, ref: ProjectRef, report: PassReport, stop: threading.Event) -> bool:
        """Categories, models and candidates of one project (§B2 steps 2–4); False when the pass must end."""
        try:
            status, body = self._get_json(ref.resource)
            if status != 200:
                self._pass_error(report, f'project {ref.label}: GET /api{ref.resource} answered HTTP {status}; skipped')
                return True
            categories = categories_from_project(body)
            status, body = self._get_json(ref.resource + '/models')
            if status != 200:
                self._pass_error(report, f'project {ref.label}: model list answered HTTP {status}; skipped')
                return True
            models, problems = models_from_listing(body)
        except (requests.RequestException, LoopLoginError) as e:
            self._pass_error(report, f'project {ref.label}: listing failed: {type(e).__name__}: {e}; skipped')
            return True
        except ListingError as e:
            self._pass_error(report, f'project {ref.label}: malformed answer: {e}; skipped')
            return True
        for problem in problems:
            self._pass_error(report, f'project {ref.label}: {problem}')
        self._forget_settled(ref, models)
        source, target = self.logic.source_format, self.logic.target_format
        candidates = select_candidates(models, source, target, waiting=self.retry.waiting,
                                       done=lambda model_id: self.is_done(model_id))
        for model in models:
            reason = skip_reason(model, source, target, waiting=self.retry.waiting(model.id), done=self.is_done(model.id))
            if reason is not None:
                log.debug('model %s of %s: not converted (%s)', model.id, ref.label, reason)
        report.candidates += len(candidates)
        for model in candidates:
            if stop.is_set() or self.logic.cancel_token.is_set():
                report.cancelled = True
                return False
            if not self._convert_model(ref, model, categories, report):
                report.cancelled = True
                return False
        return True

    def _forget_settled(self, ref: ProjectRef, models: list[ModelEntry]) -> None:
        """Drop retry records of this project's models that are gone or no longer lack the target format."""
        listed = {m.id: m for m in models}
        settled = {f.model_id for f in self.retry.failures()
                   if (f.organization, f.project) == (ref.organization, ref.project)
                   and (f.model_id not in listed or not needs_conversion(
                       listed[f.model_id], self.logic.source_format, self.logic.target_format))}
        if settled:
            log.info('forgetting the failures of %s (converted elsewhere or gone)', ', '.join(sorted(settled)))
            self.retry.forget(settled)

    def _convert_model(self, ref: ProjectRef, model: ModelEntry, categories: list[Category],
                       report: PassReport) -> bool:
        """Convert and upload one model; False when the node is stopping (nothing recorded)."""
        info = model_information(ref, model, categories, self.settings.loop_base_url)
        label = f'model {model.id} ({ref.label} v{model.version})'
        log.info('%s: converting %s → %s', label, self.logic.source_format, self.logic.target_format)
        self._current = info
        try:
            self.logic.convert(info)
            self.logic.upload_model(info.context, model.id)
        except ConversionCancelled:
            log.info('%s: conversion cancelled (the node is stopping)', label)
            return False
        except NodeNeedsRestartError:
            raise
        except Exception as e:  # noqa: BLE001 - a logic may raise anything; the pass goes on
            if self.logic.cancel_token.is_set():
                log.info('%s: conversion ended by the shutdown: %s', label, e)
                return False
            cause = f'{type(e).__name__}: {e}'
            failure = self.retry.record_failure(model.id, cause, organization=ref.organization,
                                                project=ref.project, version=model.version or '')
            wait = self.retry.seconds_until(failure)
            if isinstance(e, EXPECTED_ERRORS + (UploadFailed,)):
                log.error('%s: conversion failed (%d in a row): %s; next attempt in %.0f s', label,
                          failure.failures, cause, wait)
            else:
                log.exception('%s: conversion failed (%d in a row): %s; next attempt in %.0f s', label,
                              failure.failures, cause, wait)
            report.failed += 1
            return True
        finally:
            self._current = None
        with self._lock:
            self._done.add((model.id, self.logic.target_format))
            self.converted_total += 1
        self.retry.record_success(model.id)
        report.converted += 1
        return True

    def is_done(self, model_id: str) -> bool:
        """True once this process uploaded the target format of the model (200 or 409)."""
        with self._lock:
            return (model_id, self.logic.target_format) in self._done

    # ---- the I/O the logic's provided convert/upload_model use (ConverterHost) ------------------------------

    def prepare_model_folder(self, info: ModelInformation) -> Path:
        return prepare_model_folder(self.settings.data_folder, info.organization, info.project, info.id)

    def download_source(self, info: ModelInformation, source_format: str, folder: Path) -> None:
        """Download the source zip, unzip it safely into `folder`, copy fields of its model.json into `info`."""
        path = f'/{info.organization}/projects/{info.project}/models/{info.id}/{source_format}/file'
        zip_path = self.http.download(path, self.settings.tmp_folder, cancel=self.logic.cancel_token,
                                      prefix='converter-source')
        try:
            files = extract_source(zip_path, folder)
        finally:
            zip_path.unlink(missing_ok=True)
        downloaded, note = read_model_json(folder)
        notes = ([note] if note else []) + copy_from_model_json(info, downloaded)
        for line in notes:
            log.warning('model %s: %s', info.id, line)
        log.info('model %s: %d source file(s) in %s', info.id, len(files), folder)

    def upload_converted(self, context: Context, model_id: str, target_format: str, files: list[str]) -> None:
        """`PUT P/models/{id}/{target}/file` (§B2 step 4.6): 200 or 409 is done, anything else raises UploadFailed.

        Adds `converted/model.json` (the ModelInformation with `"format": target`) when no file is named
        `model.json`. **Addition:** upstream relied on each converter to write one.
        """
        paths = self._checked_files(files)
        if not any(p.name == 'model.json' for p in paths):
            info = self._current
            if info is None or info.id != model_id:
                raise UploadFailed(f'no model.json among the files and no model information for {model_id}')
            folder = self.logic.model_folder or self.settings.data_folder / info.organization / info.project / info.id
            generated = Path(folder) / 'converted' / 'model.json'
            atomic_write_json(generated, generated_model_json(info, target_format))
            paths.append(generated)
        path = f'/{context.organization}/projects/{context.project}/models/{model_id}/{target_format}/file'
        response = self.http.upload('PUT', path, paths, cancel=self.logic.cancel_token)
        try:
            if response.status_code == 200:
                log.info('model %s: uploaded %s (%s)', model_id, target_format, ', '.join(p.name for p in paths))
                return
            if response.status_code == 409:
                log.info('model %s: the Loop already has %s (409); counted as done', model_id, target_format)
                return
            raise UploadFailed(f'upload answered HTTP {response.status_code}: {response.text[:300]}')
        finally:
            response.close()

    @staticmethod
    def _checked_files(files: list[str]) -> list[Path]:
        if not files:
            raise UploadFailed('the logic listed no converted files')
        paths = [Path(f) for f in files]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise UploadFailed(f'converted files do not exist: {", ".join(missing)}')
        names = [p.name for p in paths]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise UploadFailed(f'two converted files share a name: {", ".join(duplicates)}')
        return paths


__all__ = ['ConversionRunner', 'PassReport', 'UploadFailed']

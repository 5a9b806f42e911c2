"""Categories, model information and the model-related responses (loop-protocol §5.7, §5.13, §7.1, §7.2,
§7.6; detector §4.4, §4.5)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .enums import CategoryType, NodeState, OperationMode, VersionMode
from .fields import Reader, as_float, as_int, as_str, dict_of, enum_of, enum_value, list_of, record, type_error


def _category_type(value: Any, path: str, round_ints: bool = False) -> CategoryType | str:
    """A category type: a known `CategoryType`, or any other string kept as given.

    Unknown strings are accepted (as upstream 0.27.0 does) so a newer Loop with a new category kind cannot
    make a detector refuse a model.
    """
    if not isinstance(value, str):
        raise type_error(path, "str", value)
    try:
        return CategoryType(value)
    except ValueError:
        return value


@dataclass(slots=True, kw_only=True)
class Category:
    """A project category (§7.1)."""

    id: str
    name: str
    description: str | None = None
    hotkey: str | None = None
    color: str | None = None
    point_size: int | None = None
    type: CategoryType | str | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> Category:
        r = Reader(d, path, round_ints)
        return cls(id=r.required("id", as_str), name=r.required("name", as_str),
                   description=r.optional("description", as_str), hotkey=r.optional("hotkey", as_str),
                   color=r.optional("color", as_str), point_size=r.optional("point_size", as_int),
                   type=r.optional("type", _category_type))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description, "hotkey": self.hotkey,
                "color": self.color, "point_size": self.point_size, "type": enum_value(self.type)}


@dataclass(slots=True, kw_only=True)
class Context:
    """Organization and project of a training or an annotation event."""

    organization: str
    project: str

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> Context:
        r = Reader(d, path, round_ints)
        return cls(organization=r.required("organization", as_str), project=r.required("project", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"organization": self.organization, "project": self.project}


@dataclass(slots=True, kw_only=True)
class ModelInformation:
    """Content of a ``model.json`` (§7.2); other keys such as ``format`` are ignored when read."""

    id: str
    host: str | None = None
    organization: str
    project: str
    version: str
    categories: list[Category] = field(default_factory=list)
    resolution: int | None = None
    model_root_path: str | None = None
    model_size: str | None = None
    conf_threshold: float | None = None

    @property
    def context(self) -> Context:
        """The model's organization and project."""
        return Context(organization=self.organization, project=self.project)

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> ModelInformation:
        r = Reader(d, path, round_ints)
        return cls(id=r.required("id", as_str), host=r.optional("host", as_str),
                   organization=r.required("organization", as_str), project=r.required("project", as_str),
                   version=r.required("version", as_str),
                   categories=r.optional("categories", list_of(record(Category)), []),
                   resolution=r.optional("resolution", as_int),
                   model_root_path=r.optional("model_root_path", as_str),
                   model_size=r.optional("model_size", as_str),
                   conf_threshold=r.optional("conf_threshold", as_float))

    def to_dict(self, include_root_path: bool = True) -> dict[str, Any]:
        """The record; ``include_root_path=False`` drops the local-only ``model_root_path`` (for model.json)."""
        d: dict[str, Any] = {"id": self.id, "host": self.host, "organization": self.organization,
                             "project": self.project, "version": self.version,
                             "categories": [c.to_dict() for c in self.categories], "resolution": self.resolution,
                             "model_root_path": self.model_root_path, "model_size": self.model_size,
                             "conf_threshold": self.conf_threshold}
        if not include_root_path:
            del d["model_root_path"]
        return d


@dataclass(slots=True, kw_only=True)
class PretrainedModel:
    """A model variant a trainer offers (§7.6); ``name`` comes back as ``model_variant``."""

    name: str
    label: str
    description: str

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> PretrainedModel:
        r = Reader(d, path, round_ints)
        return cls(name=r.required("name", as_str), label=r.required("label", as_str),
                   description=r.required("description", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "description": self.description}


@dataclass(slots=True, kw_only=True)
class ModelListEntry:
    """One entry of ``GET P/models`` (§5.7).

    Only ``id`` and ``version`` are required: they are what nodes use (the detector also copies ``host``).
    ``formats`` (missing = ``[]``), ``created``, ``comment`` and ``host`` may be missing or null, so a Loop
    that leaves out a field no node needs cannot make ``PUT /model_version`` fail.
    """

    FIELDS: ClassVar[tuple[str, ...]] = ("id", "version", "formats", "created", "comment", "host")

    id: str
    version: str
    formats: list[str] = field(default_factory=list)
    created: str | None = None
    comment: str | None = None
    host: str | None = None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> ModelListEntry:
        r = Reader(d, path, round_ints)
        return cls(id=r.required("id", as_str), version=r.required("version", as_str),
                   formats=r.optional("formats", list_of(as_str), []), created=r.optional("created", as_str),
                   comment=r.optional("comment", as_str), host=r.optional("host", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "formats": list(self.formats), "created": self.created,
                "comment": self.comment, "host": self.host}


@dataclass(slots=True, kw_only=True)
class DeploymentTarget:
    """Body of ``GET P/deployment/target`` (§5.13): both keys must be present; a null version = no target."""

    model_uuid: str | None
    version: str | None

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> DeploymentTarget:
        r = Reader(d, path, round_ints)
        return cls(model_uuid=r.nullable("model_uuid", as_str), version=r.nullable("version", as_str))

    def to_dict(self) -> dict[str, Any]:
        return {"model_uuid": self.model_uuid, "version": self.version}


@dataclass(slots=True, kw_only=True)
class AboutResponse:
    """Answer of the detector's ``about`` event and ``GET /about`` (detector §4.4).

    ``errors`` (the status error map, e.g. ``update_model``) is an addition after the spec's keys, so a
    person or a robot sees why a deployed model is not active; clients that read the spec's keys ignore it.
    """

    operation_mode: OperationMode
    state: NodeState = NodeState.Online
    model_info: ModelInformation | None = None
    target_model: str | None = None
    version_control: VersionMode
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> AboutResponse:
        r = Reader(d, path, round_ints)
        return cls(operation_mode=r.required("operation_mode", enum_of(OperationMode)),
                   state=r.required("state", enum_of(NodeState)),
                   model_info=r.optional("model_info", record(ModelInformation)),
                   target_model=r.optional("target_model", as_str),
                   version_control=r.required("version_control", enum_of(VersionMode)),
                   errors=r.optional("errors", dict_of(as_str)) or {})

    def to_dict(self) -> dict[str, Any]:
        return {"operation_mode": enum_value(self.operation_mode), "state": enum_value(self.state),
                "model_info": None if self.model_info is None else self.model_info.to_dict(),
                "target_model": self.target_model, "version_control": enum_value(self.version_control),
                "errors": dict(self.errors)}


@dataclass(slots=True, kw_only=True)
class ModelVersionResponse:
    """Answer of ``get_model_version`` / ``GET /model_version`` (detector §4.5); absent versions are ``"None"``."""

    current_version: str
    target_version: str
    loop_version: str
    local_versions: list[str] = field(default_factory=list)
    version_control: VersionMode

    @classmethod
    def from_dict(cls, d: Any, *, path: str = "", round_ints: bool = False) -> ModelVersionResponse:
        r = Reader(d, path, round_ints)
        return cls(current_version=r.required("current_version", as_str),
                   target_version=r.required("target_version", as_str),
                   loop_version=r.required("loop_version", as_str),
                   local_versions=r.required("local_versions", list_of(as_str)),
                   version_control=r.required("version_control", enum_of(VersionMode)))

    def to_dict(self) -> dict[str, Any]:
        return {"current_version": self.current_version, "target_version": self.target_version,
                "loop_version": self.loop_version, "local_versions": list(self.local_versions),
                "version_control": enum_value(self.version_control)}

"""The import-mapping file: a declarative YAML recipe for a foreign layout, parsed and checked.

See :mod:`features.contract.mapping` for how a mapping is applied, and
``data/mappings/peer_emulator.yaml`` for an example.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.contract.yamlfile import read_yaml_mapping

REDUCERS = ("first", "last", "min", "max", "mean", "change_day")
ID_FIELDS = ("run_id", "clone_id", "campaign_id", "molecule", "scale")
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class MappingError(ValueError):
    """A mapping that cannot be applied; says which key is wrong and what would work."""


@dataclass(frozen=True)
class FieldMap:
    """How one canonical column is made: from a column, a template or a constant."""

    target: str
    column: str | None = None
    template: str | None = None
    value: Any = None
    unit: str | None = None
    reduce: str | None = None

    def source_columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return [c for c in PLACEHOLDER.findall(self.template) if c != "file_stem"]
        return []


@dataclass(frozen=True)
class Mapping:
    """A parsed import mapping."""

    name: str
    path: Path
    files: tuple[str, ...]
    time: FieldMap
    ids: dict[str, FieldMap]
    samples: tuple[FieldMap, ...]
    runs: tuple[FieldMap, ...] = ()
    clones: tuple[FieldMap, ...] = ()
    outcomes: tuple[FieldMap, ...] = field(default_factory=tuple)

    def all_fields(self) -> list[tuple[str, FieldMap]]:
        out = [("time", self.time)] + [("ids", f) for f in self.ids.values()]
        for section in ("samples", "runs", "clones", "outcomes"):
            out += [(section, f) for f in getattr(self, section)]
        return out


def _field(path: Path, section: str, target: str, body: Any, per_run: bool) -> FieldMap:
    where = f"{path}: {section}.{target}"
    if isinstance(body, str):  # shorthand: target: source_column
        body = {"column": body}
    if not isinstance(body, dict):
        raise MappingError(f"{where} must be a column name or a mapping with 'column'")
    allowed = {"column", "template", "value", "unit", "reduce"}
    unknown = set(body) - allowed
    if unknown:
        raise MappingError(
            f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    given = [k for k in ("column", "template", "value") if k in body]
    if len(given) != 1:
        raise MappingError(f"{where} needs exactly one of 'column', 'template' or 'value'")
    reduce = body.get("reduce")
    if reduce is not None and (not per_run or reduce not in REDUCERS):
        raise MappingError(
            f"{where}: reduce '{reduce}' is not allowed here"
            + (f"; use one of {', '.join(REDUCERS)}" if per_run else " (samples are not reduced)")
        )
    return FieldMap(
        target,
        body.get("column"),
        body.get("template"),
        body.get("value"),
        body.get("unit"),
        reduce,
    )


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping YAML file."""
    path = Path(path)
    raw = read_yaml_mapping(path, MappingError, "mapping", "'time', 'ids' and 'samples'")
    allowed = {
        "name",
        "description",
        "source",
        "time",
        "ids",
        "samples",
        "runs",
        "clones",
        "outcomes",
    }
    unknown = set(raw) - allowed
    if unknown:
        raise MappingError(
            f"{path}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    for key in ("time", "ids", "samples"):
        if key not in raw:
            raise MappingError(f"{path}: '{key}' is required")
    ids_raw = raw["ids"] or {}
    missing = [k for k in ID_FIELDS if k not in ids_raw]
    extra = set(ids_raw) - set(ID_FIELDS)
    if missing or extra:
        raise MappingError(
            f"{path}: ids must define exactly {', '.join(ID_FIELDS)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {sorted(extra)}" if extra else "")
        )
    time = _field(path, "time", "day", raw["time"], per_run=False)
    if time.column is None:
        raise MappingError(f"{path}: time needs a 'column' (and its 'unit', e.g. day or h)")

    def section(name: str, per_run: bool) -> tuple[FieldMap, ...]:
        body = raw.get(name) or {}
        if not isinstance(body, dict):
            raise MappingError(f"{path}: '{name}' must map canonical columns to sources")
        return tuple(_field(path, name, t, b, per_run) for t, b in body.items())

    source = raw.get("source") or {}
    files = source.get("files", ["*.csv"])
    return Mapping(
        name=str(raw.get("name", path.stem)),
        path=path,
        files=tuple([files] if isinstance(files, str) else files),
        time=time,
        ids={k: _field(path, "ids", k, ids_raw[k], per_run=False) for k in ID_FIELDS},
        samples=section("samples", False),
        runs=section("runs", True),
        clones=section("clones", True),
        outcomes=section("outcomes", True),
    )

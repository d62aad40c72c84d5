"""Reading a campaign file uploaded to ``/score_campaign``, with errors a person can act on.

An upload is a .zip of a campaign folder, or one CSV/Parquet file in a foreign layout read
through a named import mapping (``data/mappings/<name>.yaml``). Cheap checks come first
(:func:`check_upload`: size, kind of file, mapping name); every problem is an
:class:`UploadError` naming the field, the value found and what was expected, never a 500.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

log = logging.getLogger("clonescout.serving")
MAPPINGS = Path(__file__).resolve().parents[1] / "data" / "mappings"
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
MAX_UNZIPPED_BYTES = 2 * 1024**3


class UploadError(ValueError):
    """An uploaded campaign that cannot be read, with where and what is expected.

    ``status`` is the HTTP status of the answer (413 for a file too large, else 422).
    """

    def __init__(self, message: str, path: str, value: Any, expected: str, status: int = 422):
        super().__init__(message)
        self.path, self.value, self.expected = path, value, expected
        self.status = status


def contract_error(message: str, file: Path, exc: Any) -> UploadError:
    """A 422 naming the upload and every structural problem of its ContractError."""
    return UploadError(
        message,
        "file",
        file.name,
        "; ".join(str(v) for v in exc.violations),
    )


def mapping_names() -> list[str]:
    """The import mappings shipped with the service, by name."""
    return sorted(p.stem for p in MAPPINGS.glob("*.yaml"))


def check_size(file: Path) -> None:
    """Refuse (413) an upload larger than :data:`MAX_UPLOAD_BYTES`."""
    size = file.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise UploadError(
            "upload too large",
            "file",
            f"{size} bytes",
            f"at most {MAX_UPLOAD_BYTES} bytes",
            status=413,
        )


def check_upload(file: Path, mapping: str | None) -> None:
    """Cheap checks before any work: size, kind of file, mapping name.

    Raises
    ------
    UploadError
        The first check the upload fails.
    """
    check_size(file)
    suffix = file.suffix.lower()
    if mapping is not None and mapping not in mapping_names():
        raise UploadError("unknown mapping", "mapping", mapping, f"one of {mapping_names()}")
    if suffix == ".zip":
        return
    if suffix in (".csv", ".parquet"):
        if mapping is None:
            raise UploadError(
                "one file needs a mapping",
                "mapping",
                None,
                "the name of an import mapping for this layout; the contract's own tables "
                "go in a .zip of the campaign folder",
            )
        return
    raise UploadError(
        "unsupported file", "file", file.name, "a .zip of a campaign folder, .csv or .parquet"
    )


def _unzip(file: Path, into: Path) -> Path:
    """Unpack the archive into ``into`` (bounded in size, no member outside it); its folder."""
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile:
        raise UploadError("not a zip archive", "file", file.name, "a valid .zip") from None
    with archive:
        total = sum(i.file_size for i in archive.infolist())
        if total > MAX_UNZIPPED_BYTES:
            raise UploadError(
                "archive too large unpacked", "file", f"{total} bytes", "at most 2 GiB unpacked"
            )
        for info in archive.infolist():
            target = (into / info.filename).resolve()
            if not target.is_relative_to(into.resolve()):
                raise UploadError(
                    "archive member outside its folder", "file", info.filename, "relative paths"
                )
        archive.extractall(into)
    tables = list(into.rglob("runs.csv")) + list(into.rglob("runs.parquet"))
    if len(tables) != 1:
        raise UploadError(
            "no single campaign folder in the archive",
            "file",
            f"{len(tables)} runs tables",
            "one folder with clones, runs and samples (CSV or Parquet)",
        )
    return tables[0].parent


def campaign(engine: Any, file: Path, mapping: str | None, reasons: str = "all") -> dict[str, Any]:
    """Load the upload through the contract (or a mapping), then score it."""
    work = Path(tempfile.mkdtemp(prefix="clonescout-upload-"))
    try:
        return engine.score_campaign(read_campaign(file, mapping, work), reasons)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def read_campaign(file: Path, mapping: str | None, work: Path) -> Any:
    """The upload read through the contract (a zip) or a mapping (one file), in ``work``.

    Raises
    ------
    UploadError
        The archive or file cannot be read, or the campaign breaks the contract's structure
        (every violation named); rows that break it are set aside, not raised.
    """
    from features.contract.loader import load_campaign
    from features.contract.mapping import import_mapped
    from features.contract.mappingfile import load_mapping
    from features.contract.violations import ContractError

    work.mkdir(parents=True, exist_ok=True)
    try:
        if file.suffix.lower() == ".zip":
            return load_campaign(_unzip(file, work))
        # the mapping reads files by their names: give the upload its own suffix
        local = work / f"upload{file.suffix.lower()}"
        shutil.copyfile(file, local)
        return import_mapped(local, load_mapping(MAPPINGS / f"{mapping}.yaml")).data
    except ContractError as exc:
        raise contract_error("the campaign breaks the data contract", file, exc) from None
    except UploadError:
        raise
    except Exception as exc:  # an unreadable upload is the file's problem, never a 500
        log.warning("upload %s could not be read", file.name, exc_info=True)
        layout = "a .zip of a campaign folder" if mapping is None else f"the {mapping} layout"
        raise UploadError(
            f"the file could not be read ({type(exc).__name__}: {exc})",
            "file",
            file.name,
            f"a readable {file.suffix.lower().lstrip('.')} file in {layout}",
        ) from None


def outcomes(log: Any, file: Path) -> dict[str, Any]:
    """An uploaded outcomes table (CSV or Parquet) joined to ``log`` and appended.

    The same rules as ``clonescout outcomes add`` (:func:`serving.outcomes.add_outcomes`),
    with source ``api``; rows set aside come back with their reasons. The upload keeps its
    name, so a reason's file and line are the user's.
    """
    from features.contract.loader import load_outcomes
    from features.contract.violations import ContractError
    from serving.outcomes import add_outcomes

    check_size(file)
    if file.suffix.lower() not in (".csv", ".parquet"):
        raise UploadError(
            "unsupported file", "file", file.name, "an outcomes table as .csv or .parquet"
        )
    work = Path(tempfile.mkdtemp(prefix="clonescout-outcomes-"))
    try:
        local = work / (Path(file.name).name or f"outcomes{file.suffix.lower()}")
        shutil.copyfile(file, local)
        try:
            path, checked = load_outcomes(local)
        except ContractError as exc:
            raise contract_error("the outcomes break the data contract", file, exc) from None
        return add_outcomes(log, path, checked, source="api").to_dict()
    finally:
        shutil.rmtree(work, ignore_errors=True)

"""Reading the project's YAML configuration files with errors a person can act on."""

from __future__ import annotations

from pathlib import Path

import yaml


def read_yaml_mapping(path: Path, error: type[ValueError], what: str, expected: str) -> dict:
    """Top-level mapping of a YAML file, or ``error`` saying what is wrong and where.

    ``what`` names the kind of file ("spec", "mapping"); ``expected`` the keys a reader
    should find. Both appear in the messages.
    """
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise error(f"{what} file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise error(f"{path}: expected a mapping with {expected}")
    return raw

"""Where a campaign comes from: a contract folder, or a foreign layout through a mapping.

One entry for every user of "the data at this path" (the CLI's commands, the service's
uploads), so that a folder and a mapped file are told apart by the same rule.
"""

from __future__ import annotations

from pathlib import Path

from features.contract.loader import CampaignData, load_campaign
from features.contract.mapping import ImportResult, import_mapped, load_mapping


def load_source(
    path: Path, mapping: Path | None = None, require_outcomes: bool = False
) -> tuple[CampaignData, ImportResult | None]:
    """A campaign folder (``mapping`` None), or a foreign file or folder through ``mapping``.

    Returns the data held to the contract and, for mapped data, the import's result (the
    source rows that could not be placed, with file, line and reason); ``None`` for a
    folder. ``require_outcomes`` applies to folders: a mapped source has what it maps.
    """
    if mapping is None:
        return load_campaign(path, require_outcomes=require_outcomes), None
    result = import_mapped(path, load_mapping(mapping))
    return result.data, result

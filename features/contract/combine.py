"""Several validated campaign sets read as one: a history plus the campaigns that came after.

Each set has already been held to the contract on its own (its rejected runs stay rejected,
with their reasons). Joining them adds structural rules of its own, checked all at once
before anything expensive starts:

- a run, a clone and a campaign belong to exactly one set: a campaign is screened once and
  its runs come in one folder (two sets sharing a campaign id would merge two batches
  into one group and break the campaign-grouped evaluation);
- the outcome columns may differ between sets (a later campaign may measure more or
  fewer attributes): the union is kept and a missing measurement stays missing;
- ``truth`` (the twin's noise-free values) is kept only when every set has it.

Any problem refuses the whole combination as one :class:`ContractError` listing every
overlap, because training on a silently de-duplicated set would learn from data nobody
chose.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from features.contract.loader import CampaignData
from features.contract.violations import ContractError, Violation

MAX_IDS_SHOWN = 5


def _overlap_rule(what: str, ids: list[str], first: Path, second: Path) -> str:
    shown = ", ".join(ids[:MAX_IDS_SHOWN]) + (
        f" and {len(ids) - MAX_IDS_SHOWN} more" if len(ids) > MAX_IDS_SHOWN else ""
    )
    return (
        f"{len(ids)} {what} also in {first} ({shown}); a {what.rstrip('s')} belongs to one "
        f"set: give each campaign once, or rename the new set's ids"
    )


def _campaigns(data: CampaignData) -> pd.Series:
    return data.clones["campaign_id"].astype(str)


def overlaps(parts: Sequence[CampaignData]) -> list[Violation]:
    """Every campaign, clone or run id that two sets share (``[]`` when they are disjoint)."""
    problems: list[Violation] = []
    keys = (
        ("campaigns", _campaigns, "clones", "campaign_id"),
        ("clones", lambda d: d.clones["clone_id"].astype(str), "clones", "clone_id"),
        ("runs", lambda d: d.runs["run_id"].astype(str), "runs", "run_id"),
    )
    for what, ids_of, table, column in keys:
        seen: dict[str, Path] = {}
        for part in parts:
            mine = pd.unique(ids_of(part))
            by_folder: dict[Path, list[str]] = {}
            for i in mine:
                if i in seen:
                    by_folder.setdefault(seen[i], []).append(str(i))
            for folder, shared in by_folder.items():
                rule = _overlap_rule(what, sorted(shared), folder, part.folder)
                problems.append(Violation(f"{part.folder}/{table}", column, rule))
            for i in mine:
                seen.setdefault(str(i), part.folder)
    return problems


def combine(parts: Sequence[CampaignData]) -> CampaignData:
    """The sets as one (folder: the first set's), refused if any id is in two of them.

    Columns a set lacks are missing in its rows; the rejects and notes of every set are
    kept, so ``runs in = runs kept + runs rejected`` still holds for the whole.
    """
    if not parts:
        raise ValueError("combine needs at least one campaign set")
    if len(parts) == 1:
        return parts[0]
    problems = overlaps(parts)
    if problems:
        raise ContractError(" + ".join(str(p.folder) for p in parts), problems)

    def stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(frames, ignore_index=True, sort=False)

    outcomes = [p.outcomes for p in parts if p.outcomes is not None]
    truths = [p.truth for p in parts]
    return CampaignData(
        parts[0].folder,
        stack([p.clones for p in parts]),
        stack([p.runs for p in parts]),
        stack([p.samples for p in parts]),
        stack(outcomes) if outcomes else None,
        None if any(t is None for t in truths) else stack([t for t in truths if t is not None]),
        dict(parts[0].files),
        stack([p.rejects for p in parts]),
        tuple(n for p in parts for n in p.notes),
    )


def campaign_ids(data: CampaignData) -> list[str]:
    """The campaigns of a set, sorted."""
    return sorted(pd.unique(_campaigns(data)).tolist())

"""Sets read as one (features.contract.combine): every id in one set only, nothing lost."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from features.contract.combine import campaign_ids, combine
from features.contract.loader import ContractError, load_campaign
from simulator.campaign import SimulationConfig, simulate_set, write_set
from simulator.labexport import relabel_tables


def _set(root: Path, name: str, seed: int, prefix: str | None):
    cfg = SimulationConfig(n_campaigns=2, clones_per_campaign=4, seed=seed, deep_clone_share=0.0)
    tables = simulate_set(cfg)
    write_set(relabel_tables(tables, prefix) if prefix else tables, root / name, cfg, "csv")
    return load_campaign(root / name, require_outcomes=True)


def test_disjoint_sets_combine_with_every_row_and_reject(tmp_path: Path) -> None:
    a, b = _set(tmp_path, "a", 3, None), _set(tmp_path, "b", 4, "N")
    b = replace(b, outcomes=b.outcomes.drop(columns=["hcp_ppm"]))  # measured less later
    set_aside = pd.DataFrame({"run_id": ["N01-K009-R1"], "stage": ["load"], "reason": ["x"]})
    b = replace(b, rejects=pd.concat([b.rejects, set_aside], ignore_index=True))
    both = combine([a, b])
    for table in ("clones", "runs", "samples", "outcomes"):
        assert len(getattr(both, table)) == len(getattr(a, table)) + len(getattr(b, table))
    assert len(both.rejects) == len(a.rejects) + len(b.rejects) >= 1
    assert campaign_ids(both) == ["C01", "C02", "N01", "N02"]
    hcp = both.outcomes.set_index("run_id")["hcp_ppm"]
    assert hcp.loc[b.runs["run_id"]].isna().all() and hcp.loc[a.runs["run_id"]].notna().all()
    assert combine([a]) is a


def test_a_campaign_in_two_sets_refuses_the_whole_with_each_overlap(tmp_path: Path) -> None:
    a, again = _set(tmp_path, "a", 3, None), _set(tmp_path, "again", 5, None)
    with pytest.raises(ContractError) as err:
        combine([a, again])
    text = str(err.value)
    assert "2 campaigns also in" in text and "C01, C02" in text
    assert "clones also in" in text and "runs also in" in text
    assert "give each campaign once, or rename the new set's ids" in text
    with pytest.raises(ValueError, match="at least one"):
        combine([])

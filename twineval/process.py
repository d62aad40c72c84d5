"""The closed loop: are the process recommendations really better? The twin says.

For each held-out campaign of a simulated history, the process model is fitted on the
other campaigns only; the campaign's clones are processed as a campaign lead would
(:func:`models.campaign_process.campaign_process`: the campaign condition, and each
clone's own condition where the evidence says so, every clone anchored on its measured
runs), and the twin re-runs each clone - same latent biology, lots and assay drift -
under its final recommendation, its own optimum, the campaign condition and the platform.
The comparison uses the twin's noise-free outcomes: the clone's *true* expected purified
product and whether it truly meets every spec limit. :func:`judge` does the same for any
set of clones a model has not seen (``make demo``'s new campaign).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract.loader import CampaignData, load_campaign
from features.contract.spec import ProductSpec
from models.campaign_process import campaign_process
from models.candidates import box_bounds
from models.process import ProcessModel
from models.whatif import space_filling
from simulator.campaign import SimulationConfig, simulate_set, write_set
from simulator.closedloop import experiments, true_outcomes
from training.process import fit_process_model


def simulated(config: SimulationConfig) -> CampaignData:
    """The set ``config`` makes, written and read back through the data contract."""
    with tempfile.TemporaryDirectory() as tmp:
        write_set(simulate_set(config), Path(tmp), config, "csv")
        return load_campaign(Path(tmp))


def without(data: CampaignData, campaign: str) -> CampaignData:
    """``data`` with one campaign's clones, runs and outcomes removed."""
    clones = data.clones[data.clones["campaign_id"] != campaign]
    runs = data.runs[data.runs["clone_id"].isin(clones["clone_id"])]
    outcomes = (
        None
        if data.outcomes is None
        else data.outcomes[data.outcomes["run_id"].isin(runs["run_id"])]
    )
    return replace(data, clones=clones, runs=runs, outcomes=outcomes, truth=None)


def purified(outcomes: pd.DataFrame) -> np.ndarray:
    return (outcomes["final_titer_g_l"] * outcomes["dsp_yield_pct"] / 100.0).to_numpy(float)


def out_of_spec(outcomes: pd.DataFrame, spec: ProductSpec) -> np.ndarray:
    bad = np.zeros(len(outcomes), bool)
    for lim in [*spec.glycans, *spec.downstream]:
        if lim.attribute in outcomes:
            bad |= np.asarray(lim.outside(outcomes[lim.attribute].to_numpy(float)), bool)
    return bad


def closed_loop(
    config: SimulationConfig,
    spec: ProductSpec,
    campaigns: list[str] | None = None,
    n_candidates: int = 300,
    data: CampaignData | None = None,
) -> pd.DataFrame:
    """One row per clone of each held-out campaign: its recommendations against the truth.

    The process model is fitted without the campaign; :func:`models.campaign_process.
    campaign_process` gives every clone its final recommendation (the campaign condition,
    or its own where the evidence says so), and the twin re-runs the clone's first run
    noise-free under the final recommendation, the clone's own optimum, the campaign
    condition and the platform.
    """
    data = simulated(config) if data is None else data
    held = campaigns or sorted(data.clones["campaign_id"].unique())
    parts = []
    for campaign in held:
        pm = fit_process_model(without(data, campaign), spec, seed=config.seed)
        clones = data.clones[data.clones["campaign_id"] == campaign]
        parts.append(
            judge(config, spec, pm, clones, data, n_candidates).assign(campaign_id=campaign)
        )
    return pd.concat(parts, ignore_index=True)


def judge(
    config: SimulationConfig,
    spec: ProductSpec,
    pm: ProcessModel,
    clones: pd.DataFrame,
    data: CampaignData,
    n_candidates: int = 300,
) -> pd.DataFrame:
    """``clones`` processed as one campaign by ``pm``, each recommendation judged by the twin.

    ``config`` made ``data``; ``pm`` must not have seen ``clones``. One row per clone: the
    per-clone table of :func:`models.campaign_process.campaign_process` and the true purified
    product and out-of-spec verdict of the clone's first run re-run noise-free under the
    final recommendation, its own optimum, the campaign condition and the platform.
    """
    r = campaign_process(pm, spec, clones, data.runs, data.outcomes, [], n_candidates=n_candidates)
    first = data.runs.groupby("clone_id")["run_id"].first()
    df = r.per_clone.copy()
    df["run_id"] = first.loc[df["clone_id"]].to_numpy()
    plat = pd.DataFrame([pm.reference] * len(df))  # this model's platform
    camp = pd.DataFrame([r.campaign_condition or pm.reference] * len(df))
    own = pd.DataFrame({f: df[f"own__{f}"].fillna(pm.reference[f]) for f in pm.factors})
    final = (
        pd.DataFrame({f: df[f"final__{f}"] for f in pm.factors}) if r.campaign_condition else plat
    )
    for name, cond in (("final", final), ("own", own), ("campaign", camp), ("platform", plat)):
        truth = true_outcomes(
            config, df["run_id"].tolist(), cond[pm.factors].reset_index(drop=True)
        )
        df[f"true_{name}"] = purified(truth)
        df[f"oos_{name}"] = out_of_spec(truth, spec)
    df["predicted_final_gain"] = df["final_gain_g_l"]
    df["gain_slope"] = r.campaign_summary.get("campaign_gain_slope", np.nan)
    df["campaign_condition"] = str(r.campaign_summary.get("campaign_condition_candidate"))
    df["inside_final"] = [
        _inside(lo, hi, t)
        for lo, hi, t in zip(
            df["final_gain_g_l_lo"],
            df["final_gain_g_l_hi"],
            df["true_final"] - df["true_platform"],
            strict=True,
        )
    ]
    return df


def _inside(lo: float, hi: float, value: float) -> float:
    return float("nan") if np.isnan(lo) or np.isnan(hi) else float(lo <= value <= hi)


def in_spec(df: pd.DataFrame, name: str) -> pd.Series:
    """True purified product under condition ``name``, counted only where it meets the spec."""
    return df[f"true_{name}"] * ~df[f"oos_{name}"].astype(bool)


def summary(df: pd.DataFrame) -> dict:
    """The acceptance figures of the closed loop (issue 24)."""
    vs_plat = df["true_final"] - df["true_platform"]
    vs_camp = df["true_final"] - df["true_campaign"]
    own = df["needs_own_condition"].astype(bool)
    for_gain = df["needs_own_for"].str.contains("gain", regex=False)
    for_spec = df["needs_own_for"] == "spec"
    own_better = df["true_own"] - df["true_campaign"] > 1e-9
    pred, true = float(df["predicted_final_gain"].mean()), float(vs_plat.mean())
    return {
        "clones": len(df),
        "campaigns": int(df["campaign_id"].nunique()),
        "share_better_than_platform": float((vs_plat > 1e-9).mean()),
        "mean_gain_over_platform_g_l": true,
        "mean_gain_over_platform_pct": float((vs_plat / df["true_platform"]).mean() * 100),
        "oos_rate_final": float(df["oos_final"].mean()),
        "oos_rate_platform": float(df["oos_platform"].mean()),
        "oos_rate_campaign_condition": float(df["oos_campaign"].mean()),
        "predicted_gain_g_l": pred,
        "predicted_gain_raw_g_l": float(df["final_gain_raw_g_l"].mean()),
        "predicted_gain_before_slope_g_l": float(
            (df["predicted_final_gain"] / df["gain_slope"]).mean()
        ),
        "predicted_over_true_pct": (pred / true - 1) * 100 if true else float("nan"),
        "gain_interval_coverage": float(df["inside_final"].mean()),
        "share_better_than_campaign_condition": float((vs_camp > 1e-9).mean()),
        "share_same_as_campaign_condition": float((vs_camp.abs() <= 1e-9).mean()),
        "mean_gain_over_campaign_condition_g_l": float(vs_camp.mean()),
        "mean_in_spec_gain_over_campaign_condition_g_l": float(
            (in_spec(df, "final") - in_spec(df, "campaign")).mean()
        ),
        "campaign_condition_share_better_than_platform": float(
            (df["true_campaign"] - df["true_platform"] > 1e-9).mean()
        ),
        "campaign_condition_mean_gain_g_l": float(
            (df["true_campaign"] - df["true_platform"]).mean()
        ),
        "campaign_condition_predicted_gain_g_l": float(df["campaign_condition_gain_g_l"].mean()),
        "told_own": int(own.sum()),
        "told_own_for_gain": int(for_gain.sum()),
        "own_for_gain_truly_better": float(own_better[for_gain].mean())
        if for_gain.any()
        else float("nan"),
        "told_own_for_spec_only": int(for_spec.sum()),
        "own_for_spec_oos_rate": float(df.loc[for_spec, "oos_own"].mean())
        if for_spec.any()
        else float("nan"),
        "own_for_spec_oos_rate_at_campaign_condition": float(
            df.loc[for_spec, "oos_campaign"].mean()
        )
        if for_spec.any()
        else float("nan"),
        "every_clone_own_optimum_share_better_than_platform": float(
            (df["true_own"] - df["true_platform"] > 1e-9).mean()
        ),
        "every_clone_own_optimum_mean_gain_g_l": float(
            (df["true_own"] - df["true_platform"]).mean()
        ),
        "how": (
            "leave-one-campaign-out: process model fitted without the campaign, every clone "
            "anchored on its measured runs; truth = the twin's noise-free re-run of the "
            "clone's first run under the final recommendation, its own optimum, the campaign "
            "condition and the platform"
        ),
    }


# -- one condition for a campaign ---------------------------------------------------------
def campaign_condition_truth(
    config: SimulationConfig,
    spec: ProductSpec,
    data: CampaignData,
    campaign: str,
    pm: ProcessModel | None = None,
    n_candidates: int = 300,
) -> dict:
    """The campaign condition for held-out ``campaign``, judged by the twin against the platform.

    ``pm`` must have been fitted without the campaign (fitted here when None); every clone
    of the campaign is re-run noise-free from its first run under the chosen condition and
    under the platform.
    """
    held = data.clones[data.clones["campaign_id"] == campaign]
    if pm is None:
        pm = fit_process_model(without(data, campaign), spec, seed=config.seed)
    r = campaign_process(pm, spec, held, data.runs, data.outcomes, [], n_candidates=n_candidates)
    if r.campaign_condition is None:
        return {"campaign": campaign, "clones": len(held), "condition": None}
    first = data.runs.groupby("clone_id")["run_id"].first()
    handle = first.loc[held["clone_id"]].tolist()
    at = pd.DataFrame([r.campaign_condition] * len(handle))
    base = pd.DataFrame([pm.reference] * len(handle))
    new, old = true_outcomes(config, handle, at), true_outcomes(config, handle, base)
    gain = purified(new) - purified(old)
    return {
        "campaign": campaign,
        "clones": len(held),
        "condition": dict(r.campaign_condition),
        "predicted_in_spec_gain_g_l": r.campaign_summary["mean_expected_in_spec_product_g_l"]
        - r.campaign_summary["platform_mean_expected_in_spec_product_g_l"],
        "true_mean_gain_g_l": float(gain.mean()),
        "true_share_better": float((gain > 1e-9).mean()),
        "true_oos_rate": float(out_of_spec(new, spec).mean()),
        "true_oos_rate_platform": float(out_of_spec(old, spec).mean()),
    }


def seed_spread(
    config: SimulationConfig,
    spec: ProductSpec,
    data: CampaignData,
    campaign: str,
    n_seeds: int,
    size: int,
    n_means: int,
) -> dict:
    """How much the held-out campaign's condition is worth, over process models' seeds alone.

    One process model with ``n_seeds`` members is fitted without the campaign; each member
    alone, and ``n_means`` means of ``size`` members drawn from them (the first two
    disjoint), choose the campaign condition, and the twin gives each choice's true mean
    gain over the platform. The data are the same throughout: what varies is only what a
    seed decides.
    """
    full = fit_process_model(
        without(data, campaign), spec, seed=config.seed, members_per_target=n_seeds
    )
    every = [full.models, *full.members]
    rng = np.random.default_rng(config.seed)
    draws = [list(range(size)), list(range(size, 2 * size))]
    draws += [sorted(rng.choice(n_seeds, size, replace=False)) for _ in range(n_means - 2)]

    def worth(idx: list[int]) -> float:
        pm = replace(full, models=every[idx[0]], members=[every[i] for i in idx[1:]])
        r = campaign_condition_truth(config, spec, data, campaign, pm)
        return r.get("true_mean_gain_g_l", np.nan)

    single = [worth([i]) for i in range(n_seeds)]
    means = [worth([int(i) for i in d]) for d in draws]
    return {
        "campaign": campaign,
        "single_g_l": single,
        f"mean_of_{size}_g_l": means,
        "single_range_g_l": float(np.nanmax(single) - np.nanmin(single)),
        "mean_range_g_l": float(np.nanmax(means) - np.nanmin(means)),
        "single_sd_g_l": float(np.nanstd(single)),
        "mean_sd_g_l": float(np.nanstd(means)),
        "disjoint_gap_g_l": float(abs(means[0] - means[1])),
    }


# -- the next-experiment loop -------------------------------------------------------------
STRATEGIES = ("proposed", "greedy", "random", "space-filling")


def experiment_loop(
    config: SimulationConfig,
    spec: ProductSpec,
    campaign: str,
    n_clones: int = 8,
    n0: int = 4,
    rounds: int = 4,
    batch: int = 2,
    seeds: tuple[int, ...] = (0, 1, 2),
    data: CampaignData | None = None,
) -> pd.DataFrame:
    """Plan experiments for new clones on the twin; one row per (seed, strategy, clone, round).

    Each clone of ``campaign`` is new to a process model fitted on the other campaigns. It
    starts from the same ``n0``-run Latin-hypercube DOE under every strategy, then gets
    ``rounds`` rounds of ``batch`` runs chosen by: ``proposed`` (:func:`models.nextexp.
    propose`), ``greedy`` (the model's best guesses, no uncertainty), ``random`` (uniform
    in the box) or ``space-filling`` (a Latin hypercube of every later run, laid out at the
    start, the classical DOE). Every run is a fresh twin run with its own measurement noise;
    experiment number j of a clone meets the same noise under every strategy. After each
    round the scientist's pick is the run with the highest *measured* purified product
    among those measured in spec (any run when none is); the row gives its *true*
    (noise-free) product and whether it truly meets the spec.
    """
    data = simulated(config) if data is None else data
    pm = fit_process_model(without(data, campaign), spec, seed=config.seed)
    clones = data.clones[data.clones["campaign_id"] == campaign].head(n_clones)
    handle = data.runs.groupby("clone_id")["run_id"].first().loc[clones["clone_id"]].tolist()
    rows = []
    for seed in seeds:
        starts = [space_filling(pm, n0, seed=1000 * seed + i) for i in range(len(clones))]
        for strategy in STRATEGIES:
            lab = _Lab(config, pm, clones, handle, seed)
            lab.run([s.iloc[j : j + 1] for s in starts] for j in range(n0))
            rows += lab.picks(spec, strategy, 0)
            later = [
                space_filling(pm, rounds * batch, seed=1000 * seed + 500 + i)
                for i in range(len(clones))
            ]
            rng = np.random.default_rng(seed)
            for rnd in range(1, rounds + 1):
                plans = _plans(strategy, lab, spec, later, rng, batch, rnd)
                lab.run([p.iloc[j : j + 1] for p in plans] for j in range(batch))
                rows += lab.picks(spec, strategy, rnd)
    return pd.DataFrame(rows)


def _plans(
    strategy: str,
    lab: _Lab,
    spec: ProductSpec,
    later: list[pd.DataFrame],
    rng: np.random.Generator,
    batch: int,
    rnd: int,
) -> list[pd.DataFrame]:
    """Round ``rnd``'s ``batch`` conditions per clone (``later``: the space-filling plans)."""
    from models.nextexp import propose

    pm = lab.pm
    if strategy in ("proposed", "greedy"):
        return [
            propose(
                pm,
                spec,
                clone,
                lab.runs[i],
                lab.outcomes[i],
                k=batch,
                seed=100 * lab.seed + rnd,
                greedy=strategy == "greedy",
            ).proposed[pm.factors]
            for i, (_, clone) in enumerate(lab.clones.iterrows())
        ]
    if strategy == "random":  # uniform in the box
        lo, hi = box_bounds(pm)
        draws = [lo + rng.random((batch, len(lo))) * (hi - lo) for _ in range(len(lab.clones))]
        return [pd.DataFrame(d, columns=pm.factors) for d in draws]
    return [p.iloc[(rnd - 1) * batch : rnd * batch] for p in later]


class _Lab:
    """The runs each clone has had so far in one (seed, strategy) arm, measured by the twin."""

    def __init__(self, config, pm, clones: pd.DataFrame, handle: list[str], seed: int):
        self.config, self.pm, self.clones, self.handle, self.seed = config, pm, clones, handle, seed
        n = len(clones)
        self.runs = [pd.DataFrame(columns=["run_id", *pm.factors]) for _ in range(n)]
        self.outcomes = [pd.DataFrame() for _ in range(n)]
        self.truth = [pd.DataFrame() for _ in range(n)]

    def run(self, slots) -> None:
        """Run one experiment per clone for each slot (a list of one-row conditions)."""
        for per_clone in slots:
            j = len(self.runs[0])  # this experiment's number, the same for every clone
            cond = pd.concat(per_clone, ignore_index=True)[self.pm.factors]
            truth, measured = experiments(
                self.config, self.handle, cond, replicate=10_000 * self.seed + j
            )
            for i, cid in enumerate(self.clones["clone_id"]):
                rid = f"{cid}-X{j}"
                self.runs[i] = pd.concat(
                    [self.runs[i], cond.iloc[[i]].assign(run_id=rid)], ignore_index=True
                )
                self.outcomes[i] = pd.concat(
                    [self.outcomes[i], measured.iloc[[i]].assign(run_id=rid)], ignore_index=True
                )
                self.truth[i] = pd.concat([self.truth[i], truth.iloc[[i]]], ignore_index=True)

    def picks(self, spec: ProductSpec, strategy: str, rnd: int) -> list[dict]:
        out = []
        for i, cid in enumerate(self.clones["clone_id"]):
            meas, truth = self.outcomes[i], self.truth[i]
            ok = ~out_of_spec(meas, spec)
            value = purified(meas)
            j = (
                int(np.nanargmax(np.where(ok, value, -np.inf)))
                if ok.any()
                else int(np.nanargmax(value))
            )
            out.append(
                {
                    "seed": self.seed,
                    "strategy": strategy,
                    "clone_id": cid,
                    "round": rnd,
                    "n_runs": len(meas),
                    "true_product_g_l": float(purified(truth.iloc[[j]])[0]),
                    "true_out_of_spec": bool(out_of_spec(truth.iloc[[j]], spec)[0]),
                }
            )
        return out


def loop_summary(df: pd.DataFrame) -> dict:
    """Curves (mean true product of the pick per strategy and run count) and the final gaps."""
    curve = df.groupby(["strategy", "n_runs"])["true_product_g_l"].mean().unstack(0)
    last = df[df["round"] == df["round"].max()]
    per_seed = last.groupby(["seed", "strategy"])["true_product_g_l"].mean().unstack(1)
    wide = last.pivot_table(
        index=["seed", "clone_id"], columns="strategy", values="true_product_g_l"
    )
    out: dict = {
        "curves_g_l": {
            s: {
                str(n): round(v, 4)
                for n, v in zip(curve.index.tolist(), curve[s].tolist(), strict=True)
            }
            for s in curve.columns
        },
        "final_per_seed_g_l": {
            s: [round(float(v), 4) for v in per_seed[s]] for s in per_seed.columns
        },
        "final_oos_rate": {
            s: float(g["true_out_of_spec"].mean()) for s, g in last.groupby("strategy")
        },
        "clones": int(df["clone_id"].nunique()),
        "seeds": int(df["seed"].nunique()),
    }
    for other in ("random", "space-filling", "greedy"):
        if other in wide and "proposed" in wide:
            gap = wide["proposed"] - wide[other]
            out[f"proposed_minus_{other}_g_l"] = round(float(gap.mean()), 4)
            out[f"share_proposed_at_least_{other}"] = round(float((gap >= -1e-9).mean()), 4)
            out[f"seeds_proposed_better_than_{other}"] = int(
                (per_seed["proposed"] > per_seed[other]).sum()
            )
    return out

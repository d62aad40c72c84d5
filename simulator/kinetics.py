"""Vectorised fed-batch integration: all runs advance together, one hour per step.

The culture model is the vLab Monod/inhibition model with InSiliCHO temperature and pH
factors (see :mod:`simulator.constants`), plus what a 14-day Ambr15 fed-batch needs on
top: daily bolus feeds with a glucose top-up, a metabolic shift to lactate uptake, a
density cap (oxygen transfer and unmodelled amino acids), osmolality from feeds and base,
ageing death and lysis, and a harvest rule (viability below ``HARVEST_VIABILITY``).
Explicit Euler with one-hour steps is stable here: the fastest rate is ~0.05 h^-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator import constants as c
from simulator.glyco import GLYCAN_KEYS, glycoform_shares
from simulator.inputs import BatchEffects, CloneBiology, ProcessConditions

STEPS_PER_DAY = 24
T_BEFORE_SHIFT_C = 36.5
FEED_START_DAY = 2
HARVEST_VIABILITY = 0.65

# Medium and feed (typical chemically defined platform, concentrations in mM)
GLC0_MM = 33.0  # 6 g/L
GLN0_MM = 4.0
LAC0_MM = 0.5
AMM0_MM = 0.4
OSM0_MOSM = 300.0  # basal medium with its glucose
FEED_GLC_MM = 250.0
FEED_GLN_MM = 45.0
FEED_OSM_OTHER = 500.0  # feed osmolality not counting glucose/glutamine
GLC_TOPUP_BELOW_MM = 22.0  # 4 g/L: top up after the feed ...
GLC_TOPUP_TO_MM = 33.0  # ... to 6 g/L (negligible volume of a 400 g/L stock)

# Rates the brief leaves open (per hour unless said)
Y_X_GLN = 1.2  # 1e9 cells per mmol glutamine
M_GLN = 0.002
Y_AMM_GLN = 0.25
K_GLN_DEGRADE = 0.0029  # spontaneous glutamine -> pyroglutamate + NH4
K_LAC_UPTAKE = 0.025  # mmol/(1e9 cells h) once shifted
K_LAC_HALF_MM = 4.0
SHIFT_RATE_PER_H = 0.02  # how fast the lactate switch completes once triggered
KD_BASE = 0.0008
KD_STARVE = 0.02
KD_AGE_PER_DAY = 0.00025  # ageing death grows linearly after AGE_ONSET_DAY
AGE_ONSET_DAY = 6.0
GROWTH_HALF_DAY = 10.5  # stationary-phase arrest (amino acids the model does not track)
KD_OSM_PER_100 = 0.0015  # extra death per 100 mOsm/kg above 400
K_LYSIS = 0.004
Q10_LN_PER_C = np.log(2.0) / 10.0  # metabolic rates halve per 10 °C (Q10 = 2)
QP_TEMP_GAIN_PER_C = 0.09  # +9% qP per °C of shift (1.4x at 32 °C)


@dataclass(frozen=True)
class CultureResult:
    """Daily samples (taken before the day's feed) and whole-run integrals.

    Arrays shaped (runs, days + 1) hold NaN after the harvest day.
    """

    day: np.ndarray
    vcd_e6_ml: np.ndarray
    viability_pct: np.ndarray
    glucose_mm: np.ndarray
    lactate_mm: np.ndarray
    glutamine_mm: np.ndarray
    ammonia_mm: np.ndarray
    titer_g_l: np.ndarray
    osmolality_mosm_kg: np.ndarray
    temperature_c: np.ndarray
    harvest_day: np.ndarray
    ivcd_e6_cell_day_ml: np.ndarray
    dead_cells_e6_ml: np.ndarray  # cells that died over the run, dilution-corrected
    glycans: dict[str, np.ndarray]  # product-weighted shares at harvest


def _temperature(t_day: float, cond: ProcessConditions) -> np.ndarray:
    shifted = np.nan_to_num(cond.temp_shift_day, nan=np.inf) <= t_day
    return np.where(shifted, cond.temp_after_shift_c, T_BEFORE_SHIFT_C)


def simulate_culture(
    bio: CloneBiology, cond: ProcessConditions, batch: BatchEffects, days: int = 14
) -> CultureResult:
    """Integrate every run for ``days`` days and return daily samples and integrals."""
    n = bio.n
    xv = cond.seed_density_e6_ml.astype(float).copy()
    xd = 0.02 * xv
    glc = np.full(n, GLC0_MM)
    gln = np.full(n, GLN0_MM)
    lac = np.full(n, LAC0_MM)
    amm = np.full(n, AMM0_MM)
    titer = np.zeros(n)
    osm_other = np.full(n, OSM0_MOSM - GLC0_MM - GLN0_MM - 2 * LAC0_MM - AMM0_MM)
    base_na = np.full(n, LAC0_MM)  # Na+ added with base to neutralise lactic acid
    shift = np.zeros(n)
    ivcd = np.zeros(n)
    dead = np.zeros(n)
    alive = np.ones(n, dtype=bool)  # not yet harvested
    harvest_day = np.full(n, float(days))
    glyco_acc = {k: np.zeros(n) for k in GLYCAN_KEYS}
    prod_acc = np.zeros(n)
    gal_supp = cond.galactose_mm
    mn = cond.mn_um

    shape = (n, days + 1)
    out = {
        k: np.full(shape, np.nan)
        for k in ("vcd", "via", "glc", "lac", "gln", "amm", "tit", "osm", "tmp")
    }
    dt = 1.0
    mu_cap = bio.mu_max_per_h * batch.media_growth_factor
    f_ph = np.exp(-0.5 * ((cond.ph_setpoint - c.PH_OPT) / c.PH_WIDTH) ** 2)
    lac_ph = 0.95 + 1.0 * (cond.ph_setpoint - 7.0)  # higher pH, more glycolytic flux

    for step in range(days * STEPS_PER_DAY + 1):
        t_day = step / STEPS_PER_DAY
        temp = _temperature(t_day, cond)
        if step % STEPS_PER_DAY == 0:
            d = step // STEPS_PER_DAY
            via = xv / np.maximum(xv + xd, 1e-9)
            rec = alive
            for key, val in (
                ("vcd", xv),
                ("via", 100 * via),
                ("glc", glc),
                ("lac", lac),
                ("gln", gln),
                ("amm", amm),
                ("tit", titer),
                ("osm", osm_other + glc + gln + lac + base_na + amm),
                ("tmp", temp),
            ):
                out[key][rec, d] = val[rec]
            if d >= 5:  # harvest rule, checked on the daily sample from day 5
                stop = alive & (via < HARVEST_VIABILITY)
                harvest_day[stop] = d
                alive = alive & ~stop
            if d == days:
                break
            if d >= FEED_START_DAY:
                # only cultures still running are fed: feeding a harvested run diluted its
                # dead-cell count (and so its HCP) after harvest
                frac = np.where(alive, cond.feed_pct / 100.0, 0.0)
                keep = 1.0 / (1.0 + frac)
                xv, xd, titer, lac, amm = xv * keep, xd * keep, titer * keep, lac * keep, amm * keep
                base_na, dead = base_na * keep, dead * keep
                glc = (glc + frac * FEED_GLC_MM) * keep
                gln = (gln + frac * FEED_GLN_MM) * keep
                osm_other = (osm_other + frac * FEED_OSM_OTHER) * keep
                glc = np.where(alive & (glc < GLC_TOPUP_BELOW_MM), GLC_TOPUP_TO_MM, glc)

        q10 = np.exp(Q10_LN_PER_C * (temp - T_BEFORE_SHIFT_C))
        f_t = np.exp(-0.5 * ((temp - c.T_OPT_C) / c.T_WIDTH_C) ** 2)
        f_glc = glc / (c.K_GLC_MM + glc)
        mu = (
            mu_cap
            * f_t
            * f_ph
            * f_glc
            * gln
            / (c.K_GLN_MM + gln)
            * c.KI_LAC_MM
            / (c.KI_LAC_MM + lac)
            * c.KI_AMM_MM
            / (c.KI_AMM_MM + amm)
            * np.clip(1.0 - (xv / bio.x_max_e6_ml) ** 2, 0.0, 1.0)
            / (1.0 + (t_day / GROWTH_HALF_DAY) ** 6)
        )
        osm = osm_other + glc + gln + lac + base_na + amm
        mu_d = (
            KD_BASE
            + bio.death_sensitivity
            * (
                c.KD_MAX_PER_H * lac / (c.KD_LAC_MM + lac) * amm / (c.KD_AMM_MM + amm)
                + KD_AGE_PER_DAY * np.maximum(t_day - AGE_ONSET_DAY, 0.0)
            )
        ) * q10
        mu_d = mu_d + KD_STARVE * (1.0 - glc / (0.5 + glc)) ** 4
        mu_d = mu_d + KD_OSM_PER_100 * np.maximum(osm - 400.0, 0.0) / 100.0

        # lactate switch: once growth has slowed below the clone's ratio, uptake starts
        trigger = mu < bio.lactate_shift_ratio * mu_cap * f_t
        shift = np.minimum(1.0, shift + SHIFT_RATE_PER_H * dt * trigger)

        q_glc = (mu / c.Y_X_GLC + c.M_GLC * q10) * f_glc
        q_lac = c.Y_LAC_GLC * lac_ph * q_glc * (1.0 - shift) - shift * K_LAC_UPTAKE * lac / (
            K_LAC_HALF_MM + lac
        )
        q_gln = (mu / Y_X_GLN + M_GLN) * gln / (0.2 + gln)
        q_amm = Y_AMM_GLN * q_gln + bio.ammonia_rate_mmol_1e9_h * q10

        qp = (
            bio.qp_base_pg_cell_day
            * (1.0 + QP_TEMP_GAIN_PER_C * (T_BEFORE_SHIFT_C - temp))
            * bio.stability_frac ** (t_day / 30.0)
        )
        shares = glycoform_shares(
            amm, qp, mn, gal_supp, bio.galt_level, bio.gnti_level, bio.fuct_level
        )
        prod = qp * xv * 1e-3 / 24.0 * dt  # g/L made this hour
        prod = np.where(alive, prod, 0.0)
        for key in GLYCAN_KEYS:
            glyco_acc[key] += prod * shares[key]
        prod_acc += prod

        a = alive.astype(float)
        died = mu_d * xv * dt
        xv = xv + a * (mu * xv * dt - died)
        xd = xd + a * (died - K_LYSIS * xd * dt)
        dead = dead + a * died
        ivcd = ivcd + a * xv * dt / 24.0
        titer = titer + prod
        glc = np.maximum(glc - a * q_glc * xv * dt, 0.0)
        lac_made = np.maximum(q_lac, 0.0) * xv * dt
        lac = np.maximum(lac + a * q_lac * xv * dt, 0.0)
        base_na = base_na + a * lac_made
        gln = np.maximum(gln - a * (q_gln * xv + K_GLN_DEGRADE * gln) * dt, 0.0)
        amm = amm + a * (q_amm * xv + K_GLN_DEGRADE * gln) * dt

    glycans = {k: v / np.maximum(prod_acc, 1e-12) for k, v in glyco_acc.items()}
    return CultureResult(
        day=np.arange(days + 1, dtype=float),
        vcd_e6_ml=out["vcd"],
        viability_pct=out["via"],
        glucose_mm=out["glc"],
        lactate_mm=out["lac"],
        glutamine_mm=out["gln"],
        ammonia_mm=out["amm"],
        titer_g_l=out["tit"],
        osmolality_mosm_kg=out["osm"],
        temperature_c=out["tmp"],
        harvest_day=harvest_day,
        ivcd_e6_cell_day_ml=ivcd,
        dead_cells_e6_ml=dead,
        glycans=glycans,
    )

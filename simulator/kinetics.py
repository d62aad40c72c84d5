"""Vectorised fed-batch integration: all runs advance together, one hour per step.

The culture model is the vLab Monod/inhibition model with InSiliCHO temperature and pH
factors (see :mod:`simulator.constants`), plus what a 14-day Ambr15 fed-batch needs on
top: daily bolus feeds with a glucose top-up, a metabolic shift to lactate uptake, a
density cap (oxygen transfer and unmodelled amino acids), osmolality from feeds and base,
ageing death and lysis, and a harvest rule (viability below ``HARVEST_VIABILITY``).
Explicit Euler with one-hour steps is stable here: the fastest rate is ~0.05 h^-1.
The module stays whole (a little over 300 lines): the constants, the state and the order of
the steps are read together, and that order fixes the generated sets bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator import constants as c
from simulator.glyco import GLYCAN_KEYS, glycoform_shares
from simulator.inputs import BatchEffects, CloneBiology, ProcessConditions

STEPS_PER_DAY = 24
DT_H = 1.0  # one Euler step
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


_SAMPLED = ("vcd", "via", "glc", "lac", "gln", "amm", "tit", "osm", "tmp")


class _Culture:
    """Every run's state while it is integrated (cells in 1e6/mL, metabolites in mM).

    The methods advance the state in place, in the order :func:`simulate_culture` calls
    them; that order and the order of the arithmetic fix the reference set bit for bit.
    """

    def __init__(
        self, bio: CloneBiology, cond: ProcessConditions, batch: BatchEffects, days: int
    ) -> None:
        n = bio.n
        self.bio, self.cond = bio, cond
        self.mu_cap = bio.mu_max_per_h * batch.media_growth_factor  # per h
        self.f_ph = np.exp(-0.5 * ((cond.ph_setpoint - c.PH_OPT) / c.PH_WIDTH) ** 2)
        self.lac_ph = 0.95 + 1.0 * (cond.ph_setpoint - 7.0)  # higher pH, more glycolytic flux
        # day 0: seeded cells in fresh medium
        self.xv = cond.seed_density_e6_ml.astype(float).copy()
        self.xd = 0.02 * self.xv
        self.glc = np.full(n, GLC0_MM)
        self.gln = np.full(n, GLN0_MM)
        self.lac = np.full(n, LAC0_MM)
        self.amm = np.full(n, AMM0_MM)
        self.titer = np.zeros(n)
        # mOsm/kg not counting the tracked metabolites and base Na+
        self.osm_other = np.full(n, OSM0_MOSM - GLC0_MM - GLN0_MM - 2 * LAC0_MM - AMM0_MM)
        self.base_na = np.full(n, LAC0_MM)  # Na+ added with base to neutralise lactic acid
        self.shift = np.zeros(n)  # 0-1 progress of the switch to lactate uptake
        self.ivcd = np.zeros(n)
        self.dead = np.zeros(n)
        self.alive = np.ones(n, dtype=bool)  # not yet harvested
        self.harvest_day = np.full(n, float(days))
        self.glyco_acc = {k: np.zeros(n) for k in GLYCAN_KEYS}  # product per glycoform, g/L
        self.prod_acc = np.zeros(n)  # product made, g/L

    def osmolality(self) -> np.ndarray:
        return self.osm_other + self.glc + self.gln + self.lac + self.base_na + self.amm

    def sample(self, out: dict[str, np.ndarray], d: int, temp: np.ndarray) -> None:
        """Record day ``d``'s sample of the running cultures in ``out``; harvest.

        The harvest rule (viability below HARVEST_VIABILITY) is checked from day 5.
        """
        via = self.xv / np.maximum(self.xv + self.xd, 1e-9)
        rec = self.alive
        osm = self.osmolality()
        values = (self.xv, 100 * via, self.glc, self.lac, self.gln, self.amm, self.titer, osm, temp)
        for key, val in zip(_SAMPLED, values, strict=True):
            out[key][rec, d] = val[rec]
        if d >= 5:
            stop = self.alive & (via < HARVEST_VIABILITY)
            self.harvest_day[stop] = d
            self.alive = self.alive & ~stop

    def feed(self) -> None:
        """The day's bolus feed (dilutes everything), then the glucose top-up.

        Only cultures still running are fed: feeding a harvested run diluted its dead-cell
        count (and so its HCP) after harvest.
        """
        frac = np.where(self.alive, self.cond.feed_pct / 100.0, 0.0)
        keep = 1.0 / (1.0 + frac)
        self.xv, self.xd, self.titer = self.xv * keep, self.xd * keep, self.titer * keep
        self.lac, self.amm = self.lac * keep, self.amm * keep
        self.base_na, self.dead = self.base_na * keep, self.dead * keep
        glc = (self.glc + frac * FEED_GLC_MM) * keep
        self.gln = (self.gln + frac * FEED_GLN_MM) * keep
        self.osm_other = (self.osm_other + frac * FEED_OSM_OTHER) * keep
        self.glc = np.where(self.alive & (glc < GLC_TOPUP_BELOW_MM), GLC_TOPUP_TO_MM, glc)

    def advance_hour(self, t_day: float, temp: np.ndarray) -> None:
        """One explicit Euler step of ``DT_H`` at culture time ``t_day`` and ``temp``."""
        q10 = np.exp(Q10_LN_PER_C * (temp - T_BEFORE_SHIFT_C))
        f_t = np.exp(-0.5 * ((temp - c.T_OPT_C) / c.T_WIDTH_C) ** 2)
        f_glc = self.glc / (c.K_GLC_MM + self.glc)
        mu = self._growth_rate(t_day, f_t, f_glc)
        mu_d = self._death_rate(t_day, q10)
        # lactate switch: once growth has slowed below the clone's ratio, uptake starts
        trigger = mu < self.bio.lactate_shift_ratio * self.mu_cap * f_t
        self.shift = np.minimum(1.0, self.shift + SHIFT_RATE_PER_H * DT_H * trigger)
        uptake = self._uptake_rates(mu, q10, f_glc)
        prod = self._make_product(t_day, temp)
        self._integrate(mu, mu_d, uptake, prod)

    def _growth_rate(self, t_day: float, f_t: np.ndarray, f_glc: np.ndarray) -> np.ndarray:
        """Specific growth rate per h: Monod substrates, inhibitions, density cap, arrest."""
        gln, lac, amm = self.gln, self.lac, self.amm
        return (
            self.mu_cap
            * f_t
            * self.f_ph
            * f_glc
            * gln
            / (c.K_GLN_MM + gln)
            * c.KI_LAC_MM
            / (c.KI_LAC_MM + lac)
            * c.KI_AMM_MM
            / (c.KI_AMM_MM + amm)
            * np.clip(1.0 - (self.xv / self.bio.x_max_e6_ml) ** 2, 0.0, 1.0)
            / (1.0 + (t_day / GROWTH_HALF_DAY) ** 6)
        )

    def _death_rate(self, t_day: float, q10: np.ndarray) -> np.ndarray:
        """Specific death rate per h: toxicity and ageing, starvation, osmolality."""
        lac, amm, glc = self.lac, self.amm, self.glc
        osm = self.osmolality()
        mu_d = (
            KD_BASE
            + self.bio.death_sensitivity
            * (
                c.KD_MAX_PER_H * lac / (c.KD_LAC_MM + lac) * amm / (c.KD_AMM_MM + amm)
                + KD_AGE_PER_DAY * np.maximum(t_day - AGE_ONSET_DAY, 0.0)
            )
        ) * q10
        mu_d = mu_d + KD_STARVE * (1.0 - glc / (0.5 + glc)) ** 4
        return mu_d + KD_OSM_PER_100 * np.maximum(osm - 400.0, 0.0) / 100.0

    def _uptake_rates(
        self, mu: np.ndarray, q10: np.ndarray, f_glc: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Specific glucose, lactate, glutamine and ammonia rates, mmol/(1e9 cells h)."""
        lac, gln = self.lac, self.gln
        q_glc = (mu / c.Y_X_GLC + c.M_GLC * q10) * f_glc
        from_glucose = c.Y_LAC_GLC * self.lac_ph * q_glc * (1.0 - self.shift)
        q_lac = from_glucose - self.shift * K_LAC_UPTAKE * lac / (K_LAC_HALF_MM + lac)
        q_gln = (mu / Y_X_GLN + M_GLN) * gln / (0.2 + gln)
        q_amm = Y_AMM_GLN * q_gln + self.bio.ammonia_rate_mmol_1e9_h * q10
        return q_glc, q_lac, q_gln, q_amm

    def _make_product(self, t_day: float, temp: np.ndarray) -> np.ndarray:
        """Product made this hour (g/L, zero once harvested), added to the glycan tallies."""
        bio = self.bio
        qp = (
            bio.qp_base_pg_cell_day
            * (1.0 + QP_TEMP_GAIN_PER_C * (T_BEFORE_SHIFT_C - temp))
            * bio.stability_frac ** (t_day / 30.0)
        )
        shares = glycoform_shares(
            self.amm,
            qp,
            self.cond.mn_um,
            self.cond.galactose_mm,
            bio.galt_level,
            bio.gnti_level,
            bio.fuct_level,
        )
        prod = qp * self.xv * 1e-3 / 24.0 * DT_H  # g/L made this hour
        prod = np.where(self.alive, prod, 0.0)
        for key in GLYCAN_KEYS:
            self.glyco_acc[key] += prod * shares[key]
        self.prod_acc += prod
        return prod

    def _integrate(
        self, mu: np.ndarray, mu_d: np.ndarray, uptake: tuple[np.ndarray, ...], prod: np.ndarray
    ) -> None:
        """Euler update of cells and metabolites; harvested runs stay as they were.

        Deaths use the hour's starting ``xv``; the metabolite and IVCD lines use the
        already-updated ``xv`` (and ammonia the updated ``gln``), as the twin always has:
        the reference set depends on that order.
        """
        q_glc, q_lac, q_gln, q_amm = uptake
        dt = DT_H
        a = self.alive.astype(float)
        xv = self.xv
        died = mu_d * xv * dt
        xv = xv + a * (mu * xv * dt - died)
        self.xd = self.xd + a * (died - K_LYSIS * self.xd * dt)
        self.dead = self.dead + a * died
        self.ivcd = self.ivcd + a * xv * dt / 24.0
        self.titer = self.titer + prod
        self.glc = np.maximum(self.glc - a * q_glc * xv * dt, 0.0)
        lac_made = np.maximum(q_lac, 0.0) * xv * dt
        self.lac = np.maximum(self.lac + a * q_lac * xv * dt, 0.0)
        self.base_na = self.base_na + a * lac_made
        gln = np.maximum(self.gln - a * (q_gln * xv + K_GLN_DEGRADE * self.gln) * dt, 0.0)
        self.amm = self.amm + a * (q_amm * xv + K_GLN_DEGRADE * gln) * dt
        self.xv, self.gln = xv, gln


def simulate_culture(
    bio: CloneBiology, cond: ProcessConditions, batch: BatchEffects, days: int = 14
) -> CultureResult:
    """Integrate every run for ``days`` days and return daily samples and integrals.

    Each day starts with the sample (before the feed), the harvest rule and, from
    FEED_START_DAY, the feed; then the day's hours are integrated.
    """
    culture = _Culture(bio, cond, batch, days)
    out = {k: np.full((bio.n, days + 1), np.nan) for k in _SAMPLED}
    for step in range(days * STEPS_PER_DAY + 1):
        t_day = step / STEPS_PER_DAY
        temp = _temperature(t_day, cond)
        if step % STEPS_PER_DAY == 0:
            d = step // STEPS_PER_DAY
            culture.sample(out, d, temp)
            if d == days:
                break
            if d >= FEED_START_DAY:
                culture.feed()
        culture.advance_hour(t_day, temp)
    return _result(culture, out, days)


def _result(culture: _Culture, out: dict[str, np.ndarray], days: int) -> CultureResult:
    glycans = {k: v / np.maximum(culture.prod_acc, 1e-12) for k, v in culture.glyco_acc.items()}
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
        harvest_day=culture.harvest_day,
        ivcd_e6_cell_day_ml=culture.ivcd,
        dead_cells_e6_ml=culture.dead,
        glycans=glycans,
    )

"""Reduced Golgi model: glycoform shares of the antibody made at one instant.

Ammonia raises the Golgi pH (del Val 2016), which moves each enzyme off its optimum with a
bell curve of enzyme-specific width (Karst 2017): galactosyltransferase is among the most
sensitive, fucosyltransferase among the least. Mn2+ (GalT/GnT cofactor) and galactose
(UDP-Gal supply) raise galactosylation (Gramer 2011). High specific productivity shortens
the Golgi residence time, leaving more Man5 and fewer galactoses. Per-arm galactosylation
probability ``p`` and fucosylated share ``f`` give G0F = f(1-p)^2, G1F = 2fp(1-p),
G2F = fp^2 of the complex glycans.
"""

from __future__ import annotations

import numpy as np

from simulator import constants as c

QP_REF_PG_CELL_DAY = 30.0  # productivity at which the residence time is the reference one
RESIDENCE_EXPONENT = 0.4  # residence time ~ qP^-0.4
MN_HALF_UM = 6.0
MN_GALT_GAIN = 0.22
MN_GNT_GAIN = 0.10
GAL_HALF_MM = 5.0
GAL_GALT_GAIN = 0.20
# Baseline rate constants (x residence time) that put a typical clone at ~45% G0F,
# ~3% Man5 and ~6% afucosylated, the middle of the IgG1 ranges in DESIGN.md §3.
K_GAL = 0.48
K_PROC = 4.4
K_FUC = 3.0
GLYCAN_KEYS = ("g0f", "g1f", "g2f", "man5", "afuc", "other")


def golgi_ph(ammonia_mm: np.ndarray) -> np.ndarray:
    """Golgi pH from the culture's ammonia (mM), floored at the resting pH."""
    nh4 = np.clip(ammonia_mm, 1e-3, c.NH4_GOLGI_MAX_MM - 0.5)
    ph = 7.5 + np.log10(nh4 / (c.NH4_GOLGI_MAX_MM - nh4))
    return np.maximum(ph, c.GOLGI_PH_REST)


def enzyme_activity(ph_golgi: np.ndarray, enzyme: str) -> np.ndarray:
    """Relative activity (0-1) of one Golgi enzyme at the given Golgi pH."""
    return np.exp(-0.5 * ((ph_golgi - c.GOLGI_PH_OPT) / c.OMEGA[enzyme]) ** 2)


def glycoform_shares(
    ammonia_mm: np.ndarray,
    qp_pg_cell_day: np.ndarray,
    mn_um: np.ndarray,
    galactose_mm: np.ndarray,
    galt_level: np.ndarray,
    gnti_level: np.ndarray,
    fuct_level: np.ndarray,
) -> dict[str, np.ndarray]:
    """Shares (fractions summing to 1) of the glycoforms made at this instant."""
    ph_g = golgi_ph(ammonia_mm)
    residence = (QP_REF_PG_CELL_DAY / np.maximum(qp_pg_cell_day, 1.0)) ** RESIDENCE_EXPONENT
    mn_sat = mn_um / (mn_um + MN_HALF_UM)
    gal_sat = galactose_mm / (galactose_mm + GAL_HALF_MM)

    k_gal = (
        K_GAL
        * galt_level
        * enzyme_activity(ph_g, "galt")
        * (1 + MN_GALT_GAIN * mn_sat)
        * (1 + GAL_GALT_GAIN * gal_sat)
    )
    p = 1.0 - np.exp(-k_gal * residence)
    k_proc = K_PROC * gnti_level * enzyme_activity(ph_g, "gnti") * (1 + MN_GNT_GAIN * mn_sat)
    man5 = np.exp(-k_proc * residence)
    # core fucosylation happens early in the Golgi: weaker dependence on residence time
    f = 1.0 - np.exp(-K_FUC * fuct_level * enzyme_activity(ph_g, "fuct") * residence**0.6)
    other = 0.01 + 0.15 * p**2  # sialylated and hybrid species, which need galactose
    complex_ = 1.0 - man5 - other
    return {
        "g0f": complex_ * f * (1 - p) ** 2,
        "g1f": complex_ * f * 2 * p * (1 - p),
        "g2f": complex_ * f * p**2,
        "man5": man5,
        "afuc": complex_ * (1 - f),
        "other": other,
    }

"""Published parameters the digital twin is built on.

Each value carries its source. Where the twin deviates from a published figure (to keep a
reduced model inside industrial ranges) the comment says so and why.

Sources
-------
- NIIMBL vLab CHO fed-batch model (Monod kinetics with lactate/ammonia inhibition).
- Möller et al. (2020), InSiliCHO: temperature and pH growth factors.
- del Val et al. (2016) and Karst et al. (2017): Golgi pH from ammonia and the pH
  sensitivity (width ``omega``) of each glycosylation enzyme.
- Gramer et al. (2011): Mn2+ and galactose feeding raise galactosylation.
- Molar masses: glucose 180.16 g/mol, lactate 89.07 g/mol.
"""

from __future__ import annotations

# --- growth (vLab Monod model), concentrations in mM, rates per hour -----------------
K_GLC_MM = 1.0  # glucose half-saturation; not given in the brief, 1 mM is the usual order
K_GLN_MM = 0.047  # vLab
KI_LAC_MM = 43.0  # vLab lactate inhibition constant
KI_AMM_MM = 6.51  # vLab ammonia inhibition constant
KD_LAC_MM = 45.8  # vLab death: lactate term
KD_AMM_MM = 6.51  # vLab death: ammonia term
KD_MAX_PER_H = 0.01  # vLab maximum toxicity death rate
Y_X_GLC = 0.357  # vLab: 1e9 cells per mmol glucose
M_GLC = 0.0692  # vLab maintenance, mmol glucose / (1e9 cells h)
Y_LAC_GLC = 0.70  # brief: lactate produced per glucose taken up before the lactate shift

# --- temperature and pH (InSiliCHO, Möller 2020) ---------------------------------------
T_OPT_C = 36.4
T_WIDTH_C = 3.12
PH_OPT = 6.99
PH_WIDTH = 1.0

# --- Golgi (del Val 2016; Karst 2017) ---------------------------------------------------
GOLGI_PH_OPT = 6.6  # optimum of every enzyme's bell curve
# The published pH_G = 7.5 + log10(NH4 / (14.5 - NH4)) falls *below* the resting Golgi pH
# at low ammonia (5.3 at 0.1 mM), which would make ammonia *help* glycosylation there. The
# twin floors it at the resting value, so ammonia only acts above ~1.6 mM.
GOLGI_PH_REST = 6.6
NH4_GOLGI_MAX_MM = 14.5
OMEGA = {
    "mani": 1.72,
    "manii": 1.39,
    "gnti": 1.08,
    "gntii": 0.96,
    "fuct": 2.01,
    "galt": 0.78,
    "siat": 0.60,
}

# --- molar masses, g/mol ----------------------------------------------------------------
MW_GLC = 180.16
MW_LAC = 89.07

# --- clone screen ------------------------------------------------------------------------
# High-throughput assay precision at the screening stage. A rapid released-glycan LC-FLR-MS
# workflow aimed at clone selection reports a mean RSD of 5.3% (SLAS Technol 2020,
# doi:10.1177/2472630320922803): about 2 points at a 40% glycoform, a few tenths at 5%;
# 1.5 points is taken for every HT glycan assay. HT titer (plate BLI / HTRF) and HT-SEC
# precision: no published figure was found here; 12% and 0.4 points are assumptions.
HT_TITER_CV = 0.12
HT_SEC_SD_PT = 0.4
HT_GLYCAN_SD_PT = 1.5

# Stage-to-stage agreement: Spearman between a clone's screen assay and the same attribute
# in its Ambr platform run, within a campaign. Porter et al. (2010, Biotechnol Prog
# 26:1455) followed 175 transfectants through every stage of a CHO selection and found
# that "ranking positions were not consistent between each assessment stage"; Hsu et al.
# (2012, Cytotechnology 64:667) found Ambr matching 2-L bioreactors while shake flasks did
# not. Neither gives a rank correlation that could be retrieved here, so the band below is
# our reading of that qualitative evidence (moderate, clearly below near-perfect), NOT a
# published figure: replace it when a coefficient is at hand.
STAGE_SPEARMAN = (0.4, 0.8)

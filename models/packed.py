"""One row per run: the input layout for engines that map rows to rows (Spark).

The model's native input is the long sample frame of :func:`features.assemble.long_frame`,
several rows per run, and its output has one row per run. Spark's ``mlflow.pyfunc.
spark_udf`` needs one output row per input row and may cut a run's rows across batches, so
for it a run travels as *one* row: its id, its run (``run__*``) and clone (``clone__*``)
attributes as columns, and its samples as a JSON list of records in ``samples_json``.

:func:`pack` and :func:`unpack` are exact inverses on the numbers (Python's JSON writes the
shortest repr of a float, which reads back bit for bit), so a packed run scores exactly as
the same run in the long layout. :func:`score_packed` gives one output row per input row,
in input order; a run that cannot be scored gets ``flag = "rejected"`` and the reason, never
a missing row.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.assemble import too_late, too_late_reason
from features.early import CLONE_PREFIX, RUN_PREFIX

if TYPE_CHECKING:
    from models.bundle import Bundle

SAMPLES_COLUMN = "samples_json"
FLAG_REJECTED = "rejected"
_PER_RUN = (RUN_PREFIX, CLONE_PREFIX)


def sample_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of a long frame that vary per sample (``day`` and the measurements)."""
    return [c for c in frame.columns if c != "run_id" and not c.startswith(_PER_RUN)]


def _number(v: object) -> object:
    """A JSON-safe value: NaN and missing become null; numpy scalars become Python ones."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float | np.floating):
        f = float(v)
        return None if math.isnan(f) else f
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def pack(frame: pd.DataFrame) -> pd.DataFrame:
    """Long sample frame -> one row per run (first-seen order), samples as JSON records.

    A run's samples keep their order; its attributes are taken from its first sample row
    (they are the same on every row of a long frame).
    """
    if "run_id" not in frame.columns:
        raise ValueError("pack: the long frame has no run_id column")
    per_sample = sample_columns(frame)
    per_run = [c for c in frame.columns if c.startswith(_PER_RUN)]
    ids = frame["run_id"].astype(str)
    first = frame.loc[~ids.duplicated(), ["run_id", *per_run]].reset_index(drop=True)
    first["run_id"] = first["run_id"].astype(str)
    values = frame[per_sample].to_numpy(object)
    grouped: dict[str, list[dict[str, object]]] = {rid: [] for rid in first["run_id"]}
    for rid, row in zip(ids.to_numpy(), values, strict=True):
        grouped[rid].append({c: _number(v) for c, v in zip(per_sample, row, strict=True)})
    first[SAMPLES_COLUMN] = [json.dumps(grouped[rid], allow_nan=False) for rid in first["run_id"]]
    return first


def unpack(packed: pd.DataFrame) -> pd.DataFrame:
    """One row per run -> the long sample frame the featurizer reads.

    Raises ``ValueError`` naming the run when its ``samples_json`` is not a JSON list of
    records.
    """
    per_run = [c for c in packed.columns if c != SAMPLES_COLUMN]
    records: list[dict[str, object]] = []
    owner: list[int] = []
    for i, (rid, text) in enumerate(
        zip(packed["run_id"].astype(str), packed[SAMPLES_COLUMN], strict=True)
    ):
        if text is None or (isinstance(text, float) and math.isnan(text)) or text == "":
            continue  # no samples: the run is rejected by score_packed
        try:
            rows = json.loads(text)
        except (TypeError, ValueError) as err:
            raise ValueError(f"run {rid}: {SAMPLES_COLUMN} is not JSON ({err})") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(
                f"run {rid}: {SAMPLES_COLUMN} must be a JSON list of sample records "
                '(objects such as {"day": 3, "vcd_e6_ml": 4.1})'
            )
        records.extend(rows)
        owner.extend([i] * len(rows))
    samples = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    for c in samples.columns:  # JSON nulls in a numeric column read back as NaN
        if samples[c].dtype == object:
            converted = pd.to_numeric(samples[c], errors="coerce")
            if converted.notna().sum() == samples[c].notna().sum():
                samples[c] = converted.astype(float)
    attrs = packed[per_run].iloc[np.asarray(owner, dtype=np.intp)].reset_index(drop=True)
    attrs["run_id"] = attrs["run_id"].astype(str)
    long = pd.concat([attrs[["run_id"]], samples, attrs.drop(columns=["run_id"])], axis=1)
    if "day" not in long.columns:
        long["day"] = pd.Series(dtype=float)
    return long


def score_packed(
    bundle: Bundle, packed: pd.DataFrame, explain: bool = True, top_k: int = 3
) -> pd.DataFrame:
    """Score packed runs: one output row per input row, in input order.

    Runs with no sample at or before the horizon (the batch's own rule, :func:`features.
    assemble.too_late`), or whose id appears twice in the batch, come back with ``flag =
    "rejected"``, the reason in ``flag_reason`` and no numbers.
    """
    ids = packed["run_id"].astype(str).reset_index(drop=True)
    dup = ids.duplicated(keep=False).to_numpy()
    long = unpack(packed[~dup].reset_index(drop=True))
    horizon = bundle.featurizer.horizon_day
    X = bundle.features(long) if len(long) else None
    if X is not None:  # the batch's own rule for what is scorable: a sample up to the horizon
        X = X.drop(index=too_late(X))
    if X is not None and len(X):
        frame = long[long["run_id"].isin(X.index)]
        scored = bundle.score_features(frame, X, explain, top_k).set_index("run_id")
    else:  # nothing scorable: the columns of an empty score
        scored = _no_scores(bundle, explain, top_k)
    out = scored.reindex(ids)
    out.index = pd.RangeIndex(len(ids))
    missing = ~ids.isin(scored.index).to_numpy()
    out.loc[missing, "flag"] = FLAG_REJECTED
    why = np.where(
        dup,
        "run id appears more than once in this batch",
        too_late_reason(horizon),
    )
    out.loc[missing, "flag_reason"] = why[missing]
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].where(out[c].notna(), "")
    out["model_id"] = bundle.manifest.get("model_id", "")
    out.insert(0, "run_id", ids.to_numpy())
    return out


def _no_scores(bundle: Bundle, explain: bool, top_k: int) -> pd.DataFrame:
    """An empty score table with the columns (and dtypes) a real one has."""
    names = bundle.predictor.feature_names
    X = pd.DataFrame(np.nan, index=pd.Index(["_"], name="run_id"), columns=names, dtype=float)
    frame = pd.DataFrame({"run_id": ["_"], "day": [0.0]})
    return bundle.score_features(frame, X, explain, top_k).set_index("run_id").iloc[:0]

"""One row per run: the input layout for engines that map rows to rows (Spark).

The model's native input is the long sample frame of :func:`features.assemble.long_frame`,
several rows per run, and its output has one row per run. Spark's ``mlflow.pyfunc.
spark_udf`` needs one output row per input row and may cut a run's rows across batches, so
for it a run travels as *one* row: its id, its run (``run__*``) and clone (``clone__*``)
attributes as columns, and its samples as a JSON list of records in ``samples_json``.

:func:`pack` and :func:`unpack` are exact inverses on the numbers (Python's JSON writes the
shortest repr of a float, which reads back bit for bit), so a packed run scores exactly as
the same run in the long layout. :meth:`models.bundle.Bundle.score_packed` gives one output
row per input row, in input order; a run that cannot be scored gets ``flag = "rejected"``
and the reason, never a missing row.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from features.early import CLONE_PREFIX, RUN_PREFIX

SAMPLES_COLUMN = "samples_json"
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

"""Score on Spark with the same MLflow bundle: ``mlflow.pyfunc.spark_udf`` over packed runs.

Two ways in:

* ``clonescout score --engine spark``: the driver reads the folder and checks the data
  contract chunk by chunk exactly as the local engine does (same rejects, same ranking,
  same files); each chunk's runs go to the Spark executors, which featurize and score them
  through the registered model's pyfunc. Results equal the local engine's to 1e-9.
* :func:`score_runs` in a user's own Spark job, on Spark DataFrames of the contract's
  tables (after :func:`pack_runs`)::

      from serving.batch.spark import pack_runs, score_runs, spark_session

      spark = spark_session("local[4]")  # or the job's own session
      packed = pack_runs(samples_df, runs_df, clones_df)
      scores = score_runs(packed, "models:/clonescout@champion")
      scores.write.parquet("scores.parquet")

A run travels as one row (:mod:`models.packed`) because ``spark_udf`` maps rows to rows and
may cut a run's sample rows across batches. The executors' Python must be the one that has
clonescout installed: :func:`spark_session` sets ``PYSPARK_PYTHON`` to this interpreter
unless it is already set (otherwise workers start the system python and fail with "No
module named 'pandas'"). Spark needs Java 17.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.early import CLONE_PREFIX, RUN_PREFIX
from models.flags import FLAG_REJECTED
from models.packed import SAMPLES_COLUMN, pack

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql import SparkSession

GROUP_COLUMN = "campaign_id"
ORPHAN_REASON = "samples whose run id is not in the runs table"
PANDAS3_WARNING = "PySpark does not yet fully support pandas"
_NUMERIC = ("double", "float", "int", "bigint", "smallint", "tinyint", "decimal")


def spark_session(master: str = "local[2]", app: str = "clonescout") -> SparkSession:
    """A Spark session whose Python workers run this interpreter (quiet, no UI)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # pyspark 4.3 warns that pandas 3 is "not yet fully supported" in every worker; the
    # paths used here (Arrow batches in and out of a pandas UDF) are checked by our tests
    quiet = f"ignore:{PANDAS3_WARNING}:FutureWarning"
    os.environ["PYTHONWARNINGS"] = (
        ",".join(
            w for w in (os.environ.get("PYTHONWARNINGS"), quiet) if w and quiet not in w.split(",")
        )
        or quiet
    )
    warnings.filterwarnings("ignore", message=PANDAS3_WARNING, category=FutureWarning)
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # one XGBoost thread per task: Spark's tasks are the parallelism; more threads than
        # cores can make OpenMP threads spin against each other
        .config("spark.executorEnv.OMP_NUM_THREADS", "1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", os.environ.get("CLONESCOUT_SPARK_DRIVER_MEMORY", "2g"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# -- the model as a Spark UDF ---------------------------------------------------------------
def model_columns(model_uri: str) -> tuple[list[str], Any]:
    """(input columns the model accepts, output Spark struct) from the model's signature.

    Raises ``ValueError`` when the model was logged before the packed layout existed.
    """
    from mlflow.models import get_model_info

    sig = get_model_info(model_uri).signature
    if sig is None or sig.inputs is None or sig.outputs is None:
        raise ValueError(f"{model_uri} has no signature; retrain it with `clonescout train`")
    inputs = list(sig.inputs.input_names())
    if SAMPLES_COLUMN not in inputs:
        raise ValueError(
            f"{model_uri} was logged before Spark scoring existed (its signature has no "
            f"{SAMPLES_COLUMN} column); retrain it with `clonescout train` to score on Spark"
        )
    return inputs, sig.outputs.as_spark_schema()


def _result_type(struct: Any, reasons: str) -> Any:
    from pyspark.sql.types import StructField, StructType

    # every field nullable: a rejected or unknown run has no numbers
    return StructType(
        [
            StructField(f.name, f.dataType, nullable=True)
            for f in struct.fields
            if f.name != "run_id" and (reasons != "none" or f.name != "reasons")
        ]
    )


def model_udf(
    spark: SparkSession, model_uri: str, reasons: str = "all"
) -> tuple[Any, list[str], list[Any]]:
    """(the pyfunc as a Spark UDF returning a struct, its input columns, its output fields)."""
    import mlflow.pyfunc

    inputs, outputs = model_columns(model_uri)
    result = _result_type(outputs, reasons)
    # env_manager="local" on purpose: the executors run this very environment (the pinned
    # stack), so MLflow's advice to rebuild it with conda does not apply
    log = logging.getLogger("mlflow.pyfunc")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        udf = mlflow.pyfunc.spark_udf(
            spark,
            model_uri,
            result_type=result,
            env_manager="local",
            # both: a model logged before "reasons" existed knows only "explain"
            params={"explain": reasons != "none", "reasons": reasons},
        )
    finally:
        log.setLevel(level)
    return udf, inputs, list(result.fields)


# -- a user's own Spark job ----------------------------------------------------------------
def _check_numeric(samples: SparkFrame) -> list[str]:
    measured = [c for c in samples.columns if c != "run_id"]
    if "day" not in measured:
        raise ValueError("samples: no 'day' column (the culture day of each sample)")
    wrong = {c: t for c, t in samples.dtypes if c in measured and not t.startswith(_NUMERIC)}
    if wrong:
        listed = ", ".join(f"{c} ({t})" for c, t in sorted(wrong.items()))
        raise ValueError(
            f"samples: these columns must be numeric and are not: {listed}; parse them "
            "first (clonescout validate names the rows that do not parse)"
        )
    return measured


def pack_runs(samples: SparkFrame, runs: SparkFrame, clones: SparkFrame) -> SparkFrame:
    """The contract's three tables -> one row per run, ready for :func:`score_runs`.

    Columns: ``run_id``, ``clone_id``, ``campaign_id``, the run's and clone's attributes
    (prefixed ``run__`` / ``clone__`` as the model knows them), ``samples_json`` (the run's
    samples sorted by day) and ``n_copies`` (how often the run id is in the runs table). Run
    ids that only appear in the samples come out too, with no attributes, so that
    :func:`score_runs` can report them rather than lose them.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    for name, frame, key in (("runs", runs, "run_id"), ("clones", clones, "clone_id")):
        if key not in frame.columns:
            raise ValueError(f"{name}: no '{key}' column")
    if "run_id" not in samples.columns:
        raise ValueError("samples: no 'run_id' column")
    if "clone_id" not in runs.columns:
        raise ValueError("runs: no 'clone_id' column")
    measured = _check_numeric(samples)
    ordered = ["day", *[c for c in measured if c != "day"]]
    r = runs.select(
        F.col("run_id").cast("string").alias("run_id"),
        F.col("clone_id").cast("string").alias("clone_id"),
        *[F.col(c).alias(RUN_PREFIX + c) for c in runs.columns if c not in ("run_id", "clone_id")],
    )
    c = clones.select(
        F.col("clone_id").cast("string").alias("clone_id"),
        *(
            [F.col(GROUP_COLUMN).cast("string").alias(GROUP_COLUMN)]
            if GROUP_COLUMN in clones.columns
            else [F.lit(None).cast("string").alias(GROUP_COLUMN)]
        ),
        *[
            F.col(x).alias(CLONE_PREFIX + x)
            for x in clones.columns
            if x not in ("clone_id", GROUP_COLUMN)
        ],
    )
    grouped = samples.groupBy(F.col("run_id").cast("string").alias("run_id")).agg(
        F.to_json(
            F.sort_array(
                F.collect_list(F.struct(*[F.col(x).cast("double").alias(x) for x in ordered]))
            )
        ).alias(SAMPLES_COLUMN)
    )
    copies = Window.partitionBy("run_id")
    meta = r.join(c, on="clone_id", how="left").withColumn(
        "n_copies", F.count(F.lit(1)).over(copies)
    )
    return meta.join(grouped, on="run_id", how="full_outer").withColumn(
        "n_copies", F.coalesce(F.col("n_copies"), F.lit(0))
    )


def score_runs(packed: SparkFrame, model_uri: str, reasons: str = "all") -> SparkFrame:
    """One row per row of ``packed``: ids, then every column of the model's output.

    Runs the model cannot score are never dropped: they come back with ``flag =
    "rejected"`` and the reason in ``flag_reason`` (no samples up to the horizon, a run id
    found several times in the runs table, samples with no run).
    """
    from pyspark.sql import functions as F

    spark = packed.sparkSession
    udf, inputs, fields = model_udf(spark, model_uri, reasons)
    present = [c for c in inputs if c in packed.columns]
    scored = packed.withColumn("_score", udf(F.struct(*[F.col(c) for c in present])))
    orphan = F.col("clone_id").isNull() & (F.col("n_copies") == 0)
    dup = F.col("n_copies") > 1
    why = (
        F.when(orphan, F.lit(ORPHAN_REASON))
        .when(dup, F.concat(F.lit("run id appears "), F.col("n_copies"), F.lit(" times in runs")))
        .otherwise(F.col("_score.flag_reason"))
    )
    bad = orphan | dup
    cols = []
    for f in fields:
        col = F.col(f"_score.{f.name}")
        if f.name == "flag":
            col = F.when(bad, F.lit(FLAG_REJECTED)).otherwise(col)
        elif f.name == "flag_reason":
            col = why
        elif f.name != "model_id":  # a rejected run has no numbers, no text, as in the batch
            empty = F.lit("") if f.dataType.typeName() == "string" else F.lit(None)
            col = F.when(bad, empty.cast(f.dataType)).otherwise(col)
        cols.append(col.alias(f.name))
    return scored.select("run_id", "clone_id", GROUP_COLUMN, *cols)


# -- the CLI's engine -----------------------------------------------------------------------
class SparkScorer:
    """Scores a chunk's long frame on Spark; same columns and order as ``Bundle.score``."""

    def __init__(self, model_uri: str, reasons: str, master: str):
        from pyspark.sql import SparkSession

        self.owned = SparkSession.getActiveSession() is None  # else the caller's session
        self.spark = spark_session(master)
        self.udf, self.inputs, _ = model_udf(self.spark, model_uri, reasons)

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        from pyspark.sql import functions as F

        packed = pack(frame)
        cols = [c for c in self.inputs if c in packed.columns]
        sdf = self.spark.createDataFrame(packed[cols])
        scores = self.udf(F.struct(*[F.col(c) for c in cols])).alias("s")
        result = sdf.select("run_id", scores).select("run_id", "s.*").toPandas()
        for c in result.columns:  # Arrow hands text back as object; the local engine has str
            if result[c].dtype == object:
                result[c] = result[c].astype("str")
        rejected = result["flag"].eq(FLAG_REJECTED)
        if rejected.any():  # the driver filtered these out: a disagreement is a bug
            raise AssertionError(
                f"Spark rejected runs the local contract kept: {list(result['run_id'][rejected])}"
            )
        return result.sort_values("run_id", kind="stable").reset_index(drop=True)

    def stop(self) -> None:
        if self.owned:
            self.spark.stop()

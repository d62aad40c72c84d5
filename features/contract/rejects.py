"""Rejected runs and data notes: the accounting that lets messy lab data in.

A run that breaks the contract is set aside with a reason a person can act on (file, line,
column, rule, value found), and everything read in a non-obvious way (flags, censored
values, instrument overshoot, rows that cannot be placed) is counted in a
:class:`DataNote`. ``runs in = runs kept + runs rejected`` holds at every stage
(:func:`check_run_accounting`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

REJECT_COLUMNS = ("run_id", "stage", "reason")
MAX_PROBLEMS_SHOWN = 3  # per rejected run; the rest are counted
MAX_LINES_NOTED = 5


def check_run_accounting(runs_in: int, used: int, rejected: int, used_as: str) -> None:
    """Hold ``runs in = runs used + runs rejected``: no run vanished or was counted twice.

    Every stage that sets runs aside checks it (load, features, training, batch and API
    scoring), with ``used_as`` saying what became of the runs not rejected ("valid",
    "featurised", "used", "scored"). A failure is a bug, never bad data: it raises
    ``AssertionError``.

    >>> check_run_accounting(5, 3, 2, "scored")
    >>> check_run_accounting(5, 3, 1, "scored")
    Traceback (most recent call last):
    AssertionError: run accounting broken: 5 runs in != 3 scored + 1 rejected
    """
    if runs_in != used + rejected:
        raise AssertionError(
            f"run accounting broken: {runs_in} runs in != {used} {used_as} + {rejected} rejected"
        )


def empty_rejects() -> pd.DataFrame:
    """A rejects table with no rows and the columns :data:`REJECT_COLUMNS`."""
    return pd.DataFrame({c: pd.Series(dtype="str") for c in REJECT_COLUMNS})


def make_rejects(run_ids: Iterable[str], stage: str, reasons: Iterable[str] | str) -> pd.DataFrame:
    """A rejects table: one row per run, the stage it was set aside at, and why.

    ``reasons`` is one reason per run, or one text for all of them.
    """
    ids = list(run_ids)
    if not ids:
        return empty_rejects()
    why = [reasons] * len(ids) if isinstance(reasons, str) else list(reasons)
    return pd.DataFrame({"run_id": ids, "stage": stage, "reason": why}, dtype="str")


@dataclass(frozen=True)
class DataNote:
    """Cells read in a documented, non-obvious way, counted so nothing happens silently.

    Attributes
    ----------
    file, column
        Where a person finds them.
    kind
        What was found: the tokens as written (quoted), or a short description.
    count
        How many cells (or rows).
    treatment
        What was done with them and why.
    lines
        The first few line (CSV, header = line 1) or row (Parquet) numbers.
    """

    file: str
    column: str | None
    kind: str
    count: int
    treatment: str
    lines: tuple[int, ...] = ()
    row_word: str = "line"

    def __str__(self) -> str:
        where = self.file + (f", column '{self.column}'" if self.column else "")
        text = f"{where}: {self.count} x {self.kind} {self.treatment}"
        if self.lines:
            shown = ", ".join(str(n) for n in self.lines)
            more = ", ..." if self.count > len(self.lines) else ""
            plural = "s" if self.count > 1 else ""
            text += f" [{self.row_word}{plural} {shown}{more}]"
        return text


def quoted_forms(cells: pd.Series, limit: int = 3) -> str:
    """The distinct forms of some cells, quoted, e.g. "'<LOQ'" or "'NA', 'n/a' (+2 forms)"."""
    forms = pd.unique(cells.astype("str").str.strip())
    shown = ", ".join(repr(str(f)) for f in forms[:limit])
    return shown + (f" (+{len(forms) - limit} forms)" if len(forms) > limit else "")


def problem_frame(
    where: tuple[str, str, np.ndarray],
    column: str,
    rule: str | pd.Series,
    found: pd.Series | None,
    keys: pd.Series,
    rank: int,
) -> pd.DataFrame:
    """Located problems, one per row: ``"<file> line N, column '<c>': <rule>; found <v>"``.

    ``where`` is (file name, row word, line numbers); ``rule`` one text or one per row;
    ``found`` the value shown per row (or None); ``keys`` the run_id of each problem or,
    when the series is named ``clone_id``, the clone whose runs it affects; ``rank`` orders
    the tables within a run's reason.
    """
    name, word, lines = where
    text = f"{name} {word} " + pd.Series(lines, dtype="int64").astype("str")
    text = text + f", column '{column}': "
    text = text + (rule if isinstance(rule, str) else rule.astype("str").to_numpy())
    if found is not None:
        text = text + "; found " + found.astype("str").to_numpy()
    ids = pd.Series(keys.astype("str").to_numpy(), index=text.index, dtype="str")
    none = pd.Series(pd.NA, index=text.index, dtype="str")
    is_clone = keys.name == "clone_id"
    return pd.DataFrame(
        {
            "run_id": none if is_clone else ids,
            "clone_id": ids if is_clone else none,
            "rank": rank,
            "line": np.asarray(lines, dtype="int64"),
            "text": text,
        }
    )


def reasons_per_run(problems: pd.DataFrame, runs_of_clone: pd.DataFrame) -> pd.DataFrame:
    """One load-stage reject per run: its first problems joined with " | ", the rest counted.

    Problems of a clones row fall on every run of that clone (``runs_of_clone`` holds
    ``run_id, clone_id`` of every run that came in).
    """
    if problems.empty:
        return empty_rejects()
    by_clone = problems[problems["run_id"].isna()].drop(columns="run_id")
    by_clone = by_clone.merge(runs_of_clone, on="clone_id", how="inner")
    located = pd.concat([problems[problems["run_id"].notna()], by_clone], ignore_index=True)
    located = located.drop_duplicates(["run_id", "text"])
    located = located.sort_values(["run_id", "rank", "line"], kind="stable")
    texts = located.groupby("run_id", sort=True)["text"].agg(list)
    reasons = [
        " | ".join(t[:MAX_PROBLEMS_SHOWN])
        + (f" (+{len(t) - MAX_PROBLEMS_SHOWN} more)" if len(t) > MAX_PROBLEMS_SHOWN else "")
        for t in texts
    ]
    return make_rejects(texts.index, "load", reasons)


def reason_kind(reason: str) -> str:
    """A reject reason without its line numbers and values, to count runs per kind.

    >>> reason_kind("samples.csv line 12, column 'ph': must be >= 5 (a culture pH); found 2")
    "samples.csv, column 'ph': must be >= 5 (a culture pH)"
    >>> reason_kind("runs.csv line 7, column 'clone_id': refers to clone_id 'K9' that "
    ...             "clones.csv does not have")
    "runs.csv, column 'clone_id': refers to a clone_id that clones.csv does not have"
    """
    kind = re.sub(r" (?:line|row) \d+,", ",", reason)
    kind = re.sub(r"; found .*$", "", kind)
    return re.sub(r"refers to (\w+) '[^']*'", r"refers to a \1", kind)


def summarise_rejects(rejects: pd.DataFrame, examples: int = 3) -> pd.DataFrame:
    """Runs per kind of reason (a run counts once per kind it shows), most frequent first.

    Returns columns ``kind, n_runs, run_ids`` (the first few run ids, comma-separated).
    """
    if rejects.empty:
        return pd.DataFrame({"kind": [], "n_runs": [], "run_ids": []})
    parts = rejects.assign(kind=rejects["reason"].str.replace(r" \(\+\d+ more\)$", "", regex=True))
    parts = parts.assign(kind=parts["kind"].str.split(" | ", regex=False)).explode("kind")
    parts["kind"] = [reason_kind(k) for k in parts["kind"]]
    parts = parts.drop_duplicates(["run_id", "kind"])
    grouped = parts.groupby("kind", sort=False)["run_id"]
    out = pd.DataFrame(
        {
            "n_runs": grouped.size(),
            "run_ids": grouped.agg(lambda ids: ", ".join(ids.iloc[:examples])),
        }
    ).reset_index()
    return out.sort_values("n_runs", ascending=False, kind="stable").reset_index(drop=True)


def reason_counts(rejects: pd.DataFrame, examples: int = 3) -> list[str]:
    """One line per kind of reason: "12 runs: <kind> (e.g. R1, R2, R3)", most first."""
    summary = summarise_rejects(rejects, examples)
    return [
        f"{n} run{'s' if n > 1 else ''}: {kind} (e.g. {ids})"
        for kind, n, ids in zip(
            summary["kind"], summary["n_runs"].astype(int), summary["run_ids"], strict=True
        )
    ]

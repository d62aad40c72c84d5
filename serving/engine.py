"""The scoring engine behind the HTTP API: runs as JSON in, one result per run out.

It does what ``clonescout score`` does to a folder — hold each run to the data contract,
featurise up to the horizon, predict with intervals, risk, flag and reasons — on runs that
arrive as JSON, with every run accounted for: it comes back ``scored`` or ``rejected`` with
its reasons, never dropped. A run's result does not depend on the other runs it is sent
(or batched) with.

The hot path is built for small requests: a run whose cells are all plain numbers within
their physical bounds, with increasing days, is checked in Python and goes straight into
the long frame; only a run that needs the contract's full reading (censored text, an
overshoot to clip, a value out of bounds, days out of order) goes through
:func:`features.validate.validate_tables`, on its own, so its reasons are the very ones a
file would get. Featurising and predicting then run once for the whole batch.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.assemble import GROUP_COLUMN, long_frame, run_index
from features.contract import ContractError, Source
from features.early import CLONE_PREFIX, RUN_PREFIX
from features.loader import CampaignData
from features.schemas import CONTRACTS
from features.validate import validate_tables
from models.bundle import Bundle
from models.conformal import LEVELS
from models.fingerprint import fingerprints, seen_in_training
from models.predictor import LIMIT_RISK_PREFIX, RISK_GROUPS
from models.ranking import DEFAULT_RANKING, clone_table, latest_titer, load_ranking

RUN_KEYS = ("run_id", "scale", "clone", "samples")
CLONE_KEYS = ("clone_id", "campaign_id", "molecule")
NO_SAMPLES = "no samples for this run"


@dataclass(frozen=True)
class ServedModel:
    """What a response says about the model that answered it."""

    name: str
    version: str
    uri: str
    alias: str | None
    data_hash: str
    horizon_day: float

    def ref(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "data_hash": self.data_hash,
            "horizon_day": self.horizon_day,
        }


def _num(x: object) -> float | None:
    """A JSON-safe float: NaN and infinities become null."""
    if x is None:
        return None
    f = float(x)  # type: ignore[arg-type]
    return f if math.isfinite(f) else None


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _bounds(table: str) -> dict[str, tuple[float, float]]:
    contract = CONTRACTS[table]
    out = {}
    for col, b in {**contract.known_numeric, **contract.required_numeric}.items():
        out[col] = (-math.inf if b.low is None else b.low, math.inf if b.high is None else b.high)
    return out


_BOUNDS = {t: _bounds(t) for t in ("clones", "runs", "samples")}


def _plain(record: dict[str, Any], table: str, skip: Sequence[str]) -> bool:
    """Every cell a number within bounds, a label, or null (no censored text to read)."""
    bounds = _BOUNDS[table]
    for k, v in record.items():
        if v is None or k in skip:
            continue
        if isinstance(v, float | int) and not isinstance(v, bool):
            lo, hi = bounds.get(k, (-math.inf, math.inf))
            if not lo <= v <= hi:
                return False
        elif k in bounds or table == "samples":
            return False  # text in a measurement: the contract reads it (or rejects it)
    return True


def is_plain(run: dict[str, Any]) -> bool:
    """True when the contract would keep ``run`` exactly as sent (the fast path)."""
    if not _plain(run, "runs", RUN_KEYS) or not _plain(run["clone"], "clones", CLONE_KEYS):
        return False
    last = -math.inf
    for s in run["samples"]:
        day = s.get("day")
        if "run_id" in s or not _is_number(day) or not day > last:
            return False
        if not _plain(s, "samples", ()):  # the day's own bounds too
            return False
        last = day
    return True


def _cell(v: object) -> str:
    """A JSON value as a CSV cell: the contract then reads it exactly as from a file."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _texts(records: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {c: [_cell(r.get(c)) for r in records] for c in columns}, dtype="str"
    ).reset_index(drop=True)


def _where_text(text: str, i: int) -> str:
    """'runs[3].samples row 2' -> 'runs[3].samples[2]'; 'runs[3] row 0' -> 'runs[3]'."""
    text = re.sub(rf"runs\[{i}\]\.samples row (\d+)", rf"runs[{i}].samples[\1]", text)
    return re.sub(rf"(runs\[{i}\](?:\.clone)?) row \d+", r"\1", text)


def contract_tables(
    run: dict[str, Any], i: int
) -> tuple[CampaignData | None, list[str], list[str]]:
    """Hold one run to the full contract, as a folder would be.

    Returns the typed one-run tables (or None when the run is rejected), the reasons it was
    rejected for, and the notes on cells read in a documented, non-obvious way.
    """
    clone = dict(run["clone"])
    clone_cols = list(dict.fromkeys(["clone_id", "campaign_id", "molecule", *clone]))
    run_rec = {k: v for k, v in run.items() if k not in ("clone", "samples")}
    run_rec["clone_id"] = clone.get("clone_id")
    run_cols = list(dict.fromkeys(["run_id", "clone_id", "scale", *run_rec]))
    samples = [{"run_id": run["run_id"], **s} for s in run["samples"]]
    sample_cols = list(dict.fromkeys(["run_id", "day", *(k for s in samples for k in s)]))
    raw = {
        "clones": _texts([clone], clone_cols),
        "runs": _texts([run_rec], run_cols),
        "samples": _texts(samples, sample_cols),
    }
    names = {"clones": f"runs[{i}].clone", "runs": f"runs[{i}]", "samples": f"runs[{i}].samples"}
    sources = {t: Source(names[t], np.arange(max(len(df), 1)), "row") for t, df in raw.items()}
    try:
        checked = validate_tables(raw, sources, f"runs[{i}]", refuse_empty=False)
    except ContractError as exc:
        return None, [_where_text(str(v), i) for v in exc.violations], []
    notes = [_where_text(str(n), i) for n in checked.notes]
    if len(checked.rejects):
        reasons = [_where_text(r, i) for r in checked.rejects["reason"]]
        return None, reasons, notes
    t = checked.tables
    if not t or t["runs"].empty:  # the row could not be placed (e.g. a blank id): dropped
        why = "; ".join(notes) if notes else "its run_id, clone_id or days could not be read"
        return None, [f"runs[{i}]: the contract could not place this run ({why})"], notes
    return CampaignData(Path("."), t["clones"], t["runs"], t["samples"], None), [], notes


def _plain_frame(runs: list[tuple[str, dict[str, Any]]]) -> pd.DataFrame:
    """The long frame (as :func:`features.assemble.long_frame`) of runs on the fast path.

    Built column by column: a run's conditions and clone are typed once per run and
    repeated over its samples; sample cells are numbers or null (:func:`is_plain`).
    """
    metas: list[dict[str, Any]] = []
    for key, run in runs:
        meta: dict[str, Any] = {"run_id": key}
        for name, v in run.items():
            if name not in ("run_id", "clone", "samples"):
                meta[RUN_PREFIX + name] = v
        for name, v in run["clone"].items():
            if name not in ("clone_id", "campaign_id"):
                meta[CLONE_PREFIX + name] = v
        metas.append(meta)
    counts = np.array([len(run["samples"]) for _, run in runs])
    data: dict[str, Any] = {}
    for c in dict.fromkeys(k for m in metas for k in m):
        values = [m.get(c) for m in metas]
        if c != "run_id" and all(v is None or _is_number(v) for v in values):
            data[c] = np.repeat(np.array(values, dtype=float), counts)
        else:
            text = np.array([None if v is None else str(v) for v in values], dtype=object)
            data[c] = pd.Series(np.repeat(text, counts), dtype="str")
    samples = [s for _, run in runs for s in run["samples"]]
    for c in dict.fromkeys(k for s in samples for k in s):
        data[c] = np.array([s.get(c) for s in samples], dtype=float)  # None -> NaN
    return pd.DataFrame(data)


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({"run_id": pd.Series(dtype="str"), "day": pd.Series(dtype=float)})


@dataclass
class Prepared:
    """A batch of runs after the contract: the long frame of the kept ones, and the rest."""

    frame: pd.DataFrame  # run_id = internal key "r<position>"
    keys: dict[str, int]  # internal key -> position in the request
    rejected: dict[int, tuple[str, list[str]]]  # position -> (stage, reasons)
    notes: dict[int, list[str]]


def prepare(runs: list[dict[str, Any]]) -> Prepared:
    """Contract check of every run, then one long frame for all runs kept."""
    plain: list[tuple[str, dict[str, Any]]] = []
    frames: list[pd.DataFrame] = []
    keys: dict[str, int] = {}
    rejected: dict[int, tuple[str, list[str]]] = {}
    notes: dict[int, list[str]] = {}
    for i, run in enumerate(runs):
        key = f"r{i:07d}"
        if not run["samples"]:
            rejected[i] = ("features", [NO_SAMPLES])
            continue
        if is_plain(run):
            plain.append((key, run))
            keys[key] = i
            continue
        try:
            data, reasons, run_notes = contract_tables(run, i)
        except Exception as exc:  # one unreadable run must never fail the others
            rejected[i] = ("load", [f"runs[{i}]: could not be read ({type(exc).__name__}: {exc})"])
            continue
        if run_notes:
            notes[i] = run_notes
        if data is None:
            rejected[i] = ("load", reasons)
            continue
        f = long_frame(data)
        f["run_id"] = key
        frames.append(f)
        keys[key] = i
    if plain:
        frames.insert(0, _plain_frame(plain))
    frame = pd.concat(frames, ignore_index=True) if frames else _empty_frame()
    return Prepared(frame, keys, rejected, notes)


def _split(text: str) -> list[str]:
    return [p for p in (s.strip() for s in text.split(",")) if p] if text else []


class Engine:
    """A loaded model bundle and the served model's identity; scores JSON runs."""

    def __init__(self, bundle: Bundle, served: ServedModel):
        self.bundle = bundle
        self.served = served
        self.ref = served.ref()
        p = bundle.predictor
        self._limits = [(g, lim) for g in RISK_GROUPS for lim in p.judged(g)[0]]
        self._not_judged = p.not_judged()
        self.ranking = load_ranking(DEFAULT_RANKING)

    def warm_up(self) -> None:
        """One thread per booster (workers are the parallelism) and a first call paid now."""
        from serving.examples import EXAMPLE_RUN

        for m in self.bundle.predictor.models.values():
            m.booster.set_param("nthread", "1")
        self.score([EXAMPLE_RUN])

    # -- scoring ---------------------------------------------------------------------
    def score(self, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One result per run, in order: ``scored`` or ``rejected`` with reasons."""
        return self._score(runs)[0]

    def _score(self, runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], pd.DataFrame]:
        """:meth:`score`, and the features of the scored runs (index: internal keys)."""
        prep = prepare(runs)
        results: list[dict[str, Any] | None] = [None] * len(runs)
        scored, X = self._predict(prep, runs)
        for i, res in scored.items():
            results[i] = res
        for i, (stage, reasons) in prep.rejected.items():
            results[i] = self._rejected(runs[i]["run_id"], stage, reasons)
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:  # accounting: no run may vanish between the contract and the model
            raise AssertionError(f"runs at positions {missing} were neither scored nor rejected")
        return results, X  # type: ignore[return-value]

    def _rejected(self, run_id: str, stage: str, reasons: list[str]) -> dict[str, Any]:
        return {
            "status": "rejected",
            "run_id": run_id,
            "stage": stage,
            "reasons": reasons,
            "model": self.ref,
        }

    def _predict(
        self, prep: Prepared, runs: list[dict[str, Any]]
    ) -> tuple[dict[int, dict[str, Any]], pd.DataFrame]:
        if not prep.keys:
            return {}, pd.DataFrame()
        b = self.bundle
        X = b.features(prep.frame)
        early = X["n_samples"].fillna(0).to_numpy() if "n_samples" in X else np.zeros(len(X))
        late = X.index[early == 0]
        h = b.featurizer.horizon_day
        for key in late:
            prep.rejected[prep.keys[key]] = (
                "features",
                [f"no samples at or before horizon day {h:g}"],
            )
        X = X.drop(index=late)
        if X.empty:
            return {}, X
        cols = b.predictor.predict_columns(X, explain=True)
        fps = fingerprints(prep.frame, b.featurizer).reindex(X.index)
        real_ids = [runs[prep.keys[k]]["run_id"] for k in X.index]
        seen = seen_in_training(pd.Series(fps.to_numpy(), index=real_ids), b.training_runs)
        results = {}
        for j, key in enumerate(X.index):
            i = prep.keys[key]
            res = self._scored(runs[i], cols, j, seen[j])
            res["notes"] = prep.notes.get(i, [])
            results[i] = res
        return results, X

    def _scored(self, run: dict[str, Any], cols: dict[str, Any], j: int, seen: str):
        preds = {}
        for t in self.bundle.targets:
            p: dict[str, Any] = {"value": _num(cols[t][j])}
            for lv in LEVELS:
                pct = round(lv * 100)
                p[f"pi{pct}"] = {
                    "lo": _num(cols[f"{t}_lo{pct}"][j]),
                    "hi": _num(cols[f"{t}_hi{pct}"][j]),
                }
            preds[t] = p
        risk = {g: _num(cols[f"{g}_risk"][j]) for g in RISK_GROUPS if f"{g}_risk" in cols}
        limits = [
            {
                "attribute": lim.attribute,
                "group": g,
                "min": _num(lim.min),
                "max": _num(lim.max),
                "unit": lim.unit,
                "probability_out": _num(cols[LIMIT_RISK_PREFIX + lim.attribute][j]),
            }
            for g, lim in self._limits
        ]
        reasons = cols["reasons"][j]
        extrapolation = cols["extrapolation"][j]
        return {
            "status": "scored",
            "run_id": run["run_id"],
            "clone_id": run["clone"]["clone_id"],
            "campaign_id": run["clone"]["campaign_id"],
            "flag": str(cols["flag"][j]),
            "flag_reason": str(cols["flag_reason"][j]),
            "predictions": preds,
            "risk": risk,
            "limits": limits,
            "not_judged": list(self._not_judged),
            "reasons": json.loads(reasons) if reasons else {},
            "applicability": str(cols["applicability"][j]),
            "t2": float(cols["t2"][j]),
            "dmodx": float(cols["dmodx"][j]),
            "missing_families": _split(str(cols["missing_families"][j])),
            "extrapolation": json.loads(extrapolation) if extrapolation else {},
            "seen_in_training": seen,
            "model": self.ref,
        }

    # -- a whole campaign ---------------------------------------------------------------
    def score_campaign(self, data: CampaignData) -> dict[str, Any]:
        """Every run of a loaded campaign scored or rejected, and its clones ranked."""
        index = run_index(data)
        runs = [
            {"run_id": r, "clone": {"clone_id": c, "campaign_id": k}}
            for r, c, k in index[["run_id", "clone_id", GROUP_COLUMN]].astype(str).to_numpy()
        ]
        key_of = {r["run_id"]: f"r{i:07d}" for i, r in enumerate(runs)}
        frame = long_frame(data)
        frame["run_id"] = frame["run_id"].astype(str).map(key_of)
        present = set(frame["run_id"])
        prep = Prepared(frame, {}, {}, {})
        for i, key in enumerate(key_of.values()):
            if key in present:
                prep.keys[key] = i
            else:
                prep.rejected[i] = ("features", [NO_SAMPLES])
        scored, _ = self._predict(prep, runs)
        results = [scored[i] for i in sorted(scored)]
        rejects = [self._rejected(runs[i]["run_id"], s, r) for i, (s, r) in prep.rejected.items()]
        rejects += [
            self._rejected(str(r.run_id), str(r.stage), [str(r.reason)])
            for r in data.rejects.itertuples()
        ]
        last = latest_titer(data.samples)  # by the campaign's own run ids
        runs_in = data.n_runs_in
        if runs_in != len(results) + len(rejects):
            raise AssertionError(
                f"run accounting broken: {runs_in} in, {len(results)} scored, "
                f"{len(rejects)} rejected"
            )
        return {
            "model": self.ref,
            "runs_in": runs_in,
            "scored": len(results),
            "rejected": len(rejects),
            "clones": self.rank(results, last),
            "rejects": rejects,
            "results": results,
        }

    def rank(self, results: list[dict[str, Any]], titer: pd.DataFrame) -> list[dict[str, Any]]:
        """Clones pooled and ranked as ``clonescout score`` ranks them (:mod:`models.ranking`).

        ``titer``: per run id, the latest measured titer and its day.
        """
        if not results:
            return []
        rows = []
        for r in results:
            y = r["predictions"].get("dsp_yield_pct", {})
            t = titer.loc[r["run_id"]] if r["run_id"] in titer.index else None
            rows.append(
                {
                    "clone_id": r["clone_id"],
                    "campaign_id": r["campaign_id"],
                    "flag": r["flag"],
                    "flag_reason": r["flag_reason"],
                    "titer_g_l": np.nan if t is None else t["titer_g_l"],
                    "titer_day": np.nan if t is None else t["titer_day"],
                    "dsp_yield_pct": y.get("value"),
                    "dsp_yield_pct_lo90": y.get("pi90", {}).get("lo"),
                    "dsp_yield_pct_hi90": y.get("pi90", {}).get("hi"),
                    "glycans_risk": r["risk"].get("glycans"),
                    "downstream_risk": r["risk"].get("downstream"),
                    **{
                        LIMIT_RISK_PREFIX + lim["attribute"]: lim["probability_out"]
                        for lim in r["limits"]
                    },
                }
            )
        frame = pd.DataFrame(rows)
        num = frame.columns.difference(["clone_id", "campaign_id", "flag", "flag_reason"])
        frame[num] = frame[num].astype(float)
        table = clone_table(frame, self.ranking)
        out = []
        for rec in table.to_dict("records"):
            place: dict[str, Any] = {
                "limit_risks": {},
                "desirabilities": {},
            }
            for key, v in rec.items():
                k = str(key)
                if k.startswith(LIMIT_RISK_PREFIX):
                    place["limit_risks"][k[len(LIMIT_RISK_PREFIX) :]] = _num(v)
                elif k.startswith("d_"):
                    place["desirabilities"][k[2:]] = _num(v)
                elif k == "rank":
                    place[k] = None if v is pd.NA or v is None else int(v)
                elif isinstance(v, str | bool | np.bool_):
                    place[k] = v if isinstance(v, str) else bool(v)
                elif k in ("runs", "runs_unknown"):
                    place[k] = int(v)
                else:
                    place[k] = _num(v)
            out.append(place)
        return out

    # -- explaining --------------------------------------------------------------------
    def explain(self, run: dict[str, Any]) -> dict[str, Any]:
        """The run's result and, for a scored run, every feature's contribution per target."""
        results, X = self._score([run])
        result = results[0]
        explanations: list[dict[str, Any]] = []
        if result["status"] != "scored" or result["flag"] == "unknown":
            return {"model": self.ref, "run": result, "explanations": explanations}
        b = self.bundle
        A = b.predictor.matrix(X)
        values = A.astype(float)[0]
        medians = b.predictor.domain.median
        names = b.predictor.feature_names
        for t, m in b.predictor.models.items():
            contrib = m.contributions(A)[0].astype(float)
            raw = float(m.predict(A)[0])
            order = np.argsort(-np.abs(contrib), kind="stable")
            explanations.append(
                {
                    "target": t,
                    "base_value": raw - float(contrib.sum()),
                    "prediction": raw,
                    "contributions": [
                        {
                            "feature": names[k],
                            "value": _num(values[k]),
                            "training_median": _num(medians[k]),
                            "contribution": float(contrib[k]),
                        }
                        for k in order
                    ],
                }
            )
        return {"model": self.ref, "run": result, "explanations": explanations}

    # -- model card --------------------------------------------------------------------
    @functools.cached_property
    def info(self) -> dict[str, Any]:
        """The model card (fixed while the model is served: built once)."""
        b, p = self.bundle, self.bundle.predictor
        spec = {"name": p.spec.name, "limits": p.limit_table()}
        manifest = json.loads(json.dumps(b.manifest, default=str))
        return {
            "model": self.ref,
            "alias": self.served.alias,
            "targets": b.targets,
            "metrics": manifest.get("cv_metrics", {}),
            "spec": spec,
            "features": list(p.feature_names),
            "required_families": p.required,
            "training_runs": len(b.training_runs),
            "manifest": manifest,
        }


def load_engine(model_uri: str) -> Engine:
    """Resolve ``model_uri`` (an alias is pinned to its version once) and load the bundle."""
    from clonescout_cli.modelcmds import registered_name, resolve_model

    model, uri, version = resolve_model(model_uri)
    bundle = model.unwrap_python_model().bundle
    alias = model_uri.split("@", 1)[1] if "@" in model_uri else None
    name = registered_name(uri)
    served = ServedModel(
        name=name,
        version=str(version or uri),
        uri=uri,
        alias=alias,
        data_hash=str(bundle.manifest.get("training_data_hash", "")),
        horizon_day=float(bundle.featurizer.horizon_day),
    )
    return Engine(bundle, served)


def runs_from_campaign(data: CampaignData) -> list[dict[str, Any]]:
    """The runs of a loaded campaign in the API's JSON shape (what a LIMS script sends).

    Missing cells become null; numbers stay exact (a float survives JSON unchanged).
    """
    clones = {c["clone_id"]: c for c in _records(data.clones)}
    samples: dict[str, list[dict[str, Any]]] = {}
    for s in _records(data.samples):
        samples.setdefault(s.pop("run_id"), []).append(s)
    out = []
    for r in _records(data.runs):
        clone = clones[r.pop("clone_id")]
        out.append({**r, "clone": clone, "samples": samples.get(r["run_id"], [])})
    return out


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    def clean(v: Any) -> Any:
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, np.generic):
            return v.item()
        return v

    return [{str(k): clean(v) for k, v in row.items()} for row in df.to_dict("records")]

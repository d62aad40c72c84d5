// The model page: which version answers, its nested figures beside the baselines, the
// families it chose, what it learned from, and the monitor's verdict on its outcomes.
"use strict";

const $ = (id) => document.getElementById(id);
const label = (name) => String(name).replace(/_/g, " ");

function card(info) {
  const m = info.model || {};
  const man = info.manifest || {};
  const dl = $("card");
  dl.replaceChildren();
  const add = (k, v) => dl.append(CS.el("dt", { text: k }), CS.el("dd", { text: v ?? "–" }));
  add("Model", `${m.name} version ${m.version}`);
  add("Asked for", m.uri);
  add("Alias", info.alias || "none (a pinned version)");
  add("Model id", man.model_id);
  add("Training data (SHA-256)", man.training_data_hash);
  add("Spec", info.spec && info.spec.name);
  add("Predicts", (info.targets || []).map(label).join(", "));
  add("Horizon (culture day)", man.horizon_day);
  add("Code commit", man.code_commit);
}

function metricsTable(metrics) {
  const targets = Object.keys(metrics.targets || {});
  const v = (t, path) => path.reduce((o, k) => (o && o[k] !== undefined ? o[k] : null),
    metrics.targets[t]);
  const cols = [
    { head: "Target", value: (r) => r.key, show: (r) => label(r.key) },
    { head: "R² model", num: true, value: (r) => CS.num(v(r.key, ["model", "r2"])),
      show: (r) => CS.sig(v(r.key, ["model", "r2"])) },
    { head: "R² PLS", num: true, value: (r) => CS.num(v(r.key, ["baselines", "pls", "r2"])),
      show: (r) => CS.sig(v(r.key, ["baselines", "pls", "r2"])) },
    { head: "MAE model", num: true, value: (r) => CS.num(v(r.key, ["model", "mae"])),
      show: (r) => CS.sig(v(r.key, ["model", "mae"])) },
    { head: "MAE PLS", num: true, value: (r) => CS.num(v(r.key, ["baselines", "pls", "mae"])),
      show: (r) => CS.sig(v(r.key, ["baselines", "pls", "mae"])) },
    { head: "Spearman", num: true, value: (r) => CS.num(v(r.key, ["model", "spearman"])),
      show: (r) => CS.sig(v(r.key, ["model", "spearman"])) },
    { head: "80 % coverage", num: true, value: (r) => CS.num(v(r.key, ["model", "coverage_80"])),
      show: (r) => CS.sig(v(r.key, ["model", "coverage_80"])) },
    { head: "90 % coverage", num: true, value: (r) => CS.num(v(r.key, ["model", "coverage_90"])),
      show: (r) => CS.sig(v(r.key, ["model", "coverage_90"])) },
  ];
  const box = CS.el("div");
  box.append(CS.table("metrics-table", "Nested figures per target", cols,
    targets.map((t) => ({ key: t }))));
  const ev = metrics.evaluation || {};
  box.append(CS.el("p", { class: "muted", text:
    `${metrics.n_runs} runs of ${metrics.n_campaigns} campaigns; ${ev.outer_folds || "?"} ` +
    "outer folds grouped by campaign, each fold's model tuned and calibrated without it." }));
  for (const g of ["glyco_risk", "downstream_risk"]) {
    const b = metrics[g];
    if (!b || !b.model) continue;
    box.append(CS.el("p", { text: `${label(g)}: AUROC ${CS.sig(b.model.auroc)} (PLS ` +
      `${CS.sig(b.baselines && b.baselines.pls && b.baselines.pls.auroc)}), Brier ` +
      `${CS.sig(b.model.brier)}` }));
  }
  const f = metrics.flags;
  if (f && f.model) {
    const pls = (f.baselines && f.baselines.pls) || {};
    box.append(CS.el("p", { text: `"At risk" flag (risk ≥ ${f.risk_flag}): precision ` +
      `${CS.sig(f.model.precision)} (PLS ${CS.sig(pls.precision)}), recall ` +
      `${CS.sig(f.model.recall)} (PLS ${CS.sig(pls.recall)}); ${f.n_flagged} of ` +
      `${f.n_runs} held-out runs flagged, ${f.n_out_of_spec} measured out of spec` }));
  }
  return box;
}

function families(manifest) {
  const sel = manifest.model_families || {};
  const rows = Object.entries(sel).map(([t, s]) => ({ key: t, ...s }));
  if (!rows.length) return CS.el("p", { text: "not recorded for this version" });
  const weights = (r) => Object.entries(r.weights || {}).filter(([, w]) => w > 0)
    .map(([f, w]) => `${f} ${CS.sig(w, 2)}`).join(", ");
  const cols = [
    { head: "Target", value: (r) => r.key, show: (r) => label(r.key) },
    { head: "Blend of families (weights)", value: weights },
    { head: "Why", value: (r) => r.why || "" },
  ];
  return CS.table("families-table", "Model families per target", cols, rows);
}

function training(info) {
  const man = info.manifest || {};
  const data = (man.cv_metrics && man.cv_metrics.data) || {};
  const box = CS.el("div");
  box.append(CS.el("p", { text: `${data.runs_used ?? info.training_runs} runs used of ` +
    `${data.runs_in ?? "?"} (${data.runs_rejected ?? 0} set aside).` }));
  const camps = man.training_campaigns || [];
  if (camps.length) {
    const keys = Object.keys(camps[0]);
    const cols = keys.map((k) => ({ head: label(k), value: (r) => r[k],
      num: typeof camps[0][k] === "number" }));
    box.append(CS.table("campaigns-table", "Training campaigns", cols, camps));
  }
  return box;
}

async function monitor() {
  const box = $("monitor");
  try {
    const body = await CS.postJSON("/monitor", {});
    box.replaceChildren();
    const r = body.result;
    if (!r) {
      box.append(CS.el("p", { id: "monitor-verdict", text: body.note }));
      return;
    }
    box.append(CS.el("p", {}, "Verdict: ",
      CS.el("span", { id: "monitor-verdict", class: `verdict ${r.verdict}`, text: r.verdict }),
      ` on ${r.judged_runs} runs with outcomes.`));
    if (r.retrain) {
      box.append(CS.el("p", { id: "monitor-retrain",
        text: `Retraining ${r.retrain.due ? "due" : "not due"}: ${r.retrain.why || ""}` }));
    }
    if (!(r.checks || []).length) return;
    const cols = [
      { head: "Figure", value: (c) => c.what },
      { head: "Realized", num: true, value: (c) => CS.num(c.realized), show: (c) => CS.sig(c.realized) },
      { head: "Promised", num: true, value: (c) => CS.num(c.promised), show: (c) => CS.sig(c.promised) },
      { head: "Verdict", value: (c) => c.verdict },
    ];
    box.append(CS.table("monitor-table", "Realized against promised", cols, r.checks || []));
  } catch (err) {
    const p = CS.el("p", { id: "monitor-verdict",
      text: `The monitor cannot answer here: ${err.message}` });
    box.replaceChildren(p);
  }
}

async function load() {
  let info;
  try {
    info = await CS.postJSON("/model", {});
  } catch (err) {
    CS.showError($("error"), err, "The model could not be described");
    $("status").textContent = "";
    return;
  }
  card(info);
  const metrics = info.metrics || {};
  $("metrics").replaceChildren(metricsTable(metrics));
  $("families").replaceChildren(families(info.manifest || {}));
  $("training").replaceChildren(training(info));
  $("content").hidden = false;
  $("status").textContent = "";
  await monitor();
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", load);

// The campaign page: upload -> job (progress) -> ranking, unknowns, rejects, downloads.
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 400;
let current = null; // the job's results

async function loadMappings() {
  try {
    const body = await CS.api("/ui/api/mappings");
    for (const m of body.mappings) $("mapping").append(CS.el("option", { value: m, text: m }));
  } catch (e) { /* the select keeps "none" */ }
}

function setBusy(busy) {
  $("go").disabled = busy;
  $("progress-box").hidden = !busy;
}

async function upload(ev) {
  ev.preventDefault();
  $("error").hidden = true;
  $("results").hidden = true;
  const file = $("file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file, file.name);
  if ($("mapping").value) form.append("mapping", $("mapping").value);
  setBusy(true);
  $("status").textContent = `Uploading ${file.name}…`;
  try {
    const job = await CS.api("/ui/api/jobs", { method: "POST", body: form });
    history.replaceState(null, "", `#job=${job.job}`);
    await follow(job.job);
  } catch (err) {
    failed(err);
  }
}

function failed(err, title) {
  setBusy(false);
  $("status").textContent = "";
  CS.showError($("error"), err, title || "This campaign could not be scored");
}

async function follow(id) {
  setBusy(true);
  for (;;) {
    const s = await CS.api(`/ui/api/jobs/${id}`);
    if (s.state === "failed") {
      const err = new Error(s.error);
      err.body = { error: s.error, detail: s.problems || [] };
      failed(err);
      return;
    }
    if (s.state === "done") {
      setBusy(false);
      show(id, s);
      return;
    }
    const bar = $("progress");
    if (s.state === "scoring" && s.total) {
      bar.max = s.total;
      bar.value = s.done;
      $("status").textContent = `Scoring: ${s.done} of ${s.total} runs`;
    } else {
      bar.removeAttribute("value");
      $("status").textContent = {
        queued: "Waiting for the scorer…",
        reading: `Reading ${s.file || "the upload"} through the data contract…`,
        report: "Writing the report…",
      }[s.state] || s.state;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function show(id, s) {
  current = { id, ...s };
  const sum = s.summary || {};
  $("status").textContent =
    `Done: ${s.runs_in} runs in, ${s.scored} scored, ${s.rejected} set aside.`;
  const counts = $("counts");
  counts.replaceChildren();
  const flags = sum.flags || {};
  const items = [
    ["runs in", s.runs_in], ["scored", s.scored], ["set aside", s.rejected],
    ["clones ranked", sum.clones_ranked], ["clones unknown", sum.clones_unknown],
    ["ok", flags.ok], ["at risk", flags["at risk"]], ["unknown runs", flags.unknown],
  ];
  for (const [label, v] of items) {
    counts.append(CS.el("li", {}, CS.el("strong", { text: v ?? "–" }), label));
  }
  showDrift(sum.drift);
  const dl = $("downloads");
  dl.replaceChildren();
  const names = { scores: "Scores (CSV, per run)", clones: "Clones (CSV, ranked)",
    rejects: "Runs set aside (CSV)", summary: "Summary (JSON)", report: "Report (HTML)" };
  for (const key of s.files || []) {
    dl.append(CS.el("li", {}, CS.el("a", {
      href: `/ui/api/jobs/${id}/files/${key}`, download: "", text: names[key] || key,
      "data-file": key })));
  }
  renderClones();
  renderRejects(s.rejects || []);
  $("report").src = `/ui/api/jobs/${id}/files/report?inline=1`;
  $("results").hidden = false;
  $("summary-head").focus?.();
}

function showDrift(drift) {
  const box = $("drift");
  box.replaceChildren();
  if (!drift) return;
  if (!drift.available) {
    box.append(CS.el("p", { text: `Drift: not judged (${drift.why})` }));
    return;
  }
  for (const c of drift.campaigns || []) {
    const p = CS.el("p", { class: c.verdict === "none" ? "" : "notice" });
    p.append(CS.el("strong", { text: `Drift, campaign ${c.campaign_id}: ` }), c.sentence);
    box.append(p);
  }
}

const cloneLink = (r) => CS.el("a", {
  href: `/ui/clone?job=${encodeURIComponent(current.id)}&clone=${encodeURIComponent(r.clone_id)}`,
  text: r.clone_id, class: "clone-link" });

function matches(r, text, flag) {
  if (flag && r.flag !== flag) return false;
  if (!text) return true;
  const hay = `${r.clone_id} ${r.campaign_id} ${r.reasons || ""}`.toLowerCase();
  return hay.includes(text.toLowerCase());
}

function renderClones() {
  const text = $("filter").value.trim();
  const flag = $("flag-filter").value;
  const all = current.clones || [];
  const ranked = all.filter((r) => r.flag !== "unknown" && matches(r, text, flag));
  const unknown = all.filter((r) => r.flag === "unknown" && matches(r, text, ""));
  const ds = all.some((r) => CS.num(r.downstream_risk) !== null);
  const cols = [
    { head: "Rank", tip: "1 = most desirable", value: (r) => r.rank, num: true },
    { head: "Clone", value: (r) => r.clone_id, show: cloneLink },
    { head: "Campaign", value: (r) => r.campaign_id },
    { head: "Flag", tip: "ok, or at risk: a glycan or downstream out-of-spec risk of 0.5 or more",
      value: (r) => r.flag, show: (r) => CS.flag(r.flag) },
    { head: "Runs", value: (r) => r.runs, num: true },
    { head: "Titer (g/L)", tip: "latest measured titer", value: (r) => CS.num(r.titer_g_l),
      show: (r) => CS.sig(r.titer_g_l), num: true },
    { head: "Purification yield (%)", tip: "predicted, with its 90 % interval",
      value: (r) => CS.num(r.dsp_yield_pct),
      show: (r) => CS.ranged(r.dsp_yield_pct, r.dsp_yield_lo90, r.dsp_yield_hi90), num: true },
    { head: "Expected product (g/L)", tip: "titer × purification yield, 90 % interval",
      value: (r) => CS.num(r.expected_product_g_l),
      show: (r) => CS.ranged(r.expected_product_g_l, r.expected_product_lo90,
        r.expected_product_hi90), num: true },
    { head: "Glycan risk", tip: "probability that any glycan attribute is out of spec",
      value: (r) => CS.num(r.glycans_risk), show: (r) => CS.share(r.glycans_risk), num: true },
    ...(ds ? [{ head: "Downstream risk", value: (r) => CS.num(r.downstream_risk),
      show: (r) => CS.share(r.downstream_risk), num: true }] : []),
    { head: "Desirability", value: (r) => CS.num(r.desirability),
      show: (r) => CS.sig(r.desirability), num: true },
    { head: "Pareto", tip: "◆ = on the Pareto front", value: (r) => (r.pareto === true ||
      r.pareto === "True" ? 1 : 0), show: (r) => (r.pareto === true || r.pareto === "True"
      ? "◆" : "") },
    { head: "Reasons", value: (r) => r.reasons || "", show: (r) => CS.reasons(r.reasons).join("; ") },
  ];
  $("ranked-head").textContent = `Ranked clones (${ranked.length})`;
  $("ranked").replaceChildren(ranked.length
    ? CS.table("ranked-table", "Ranked clones", cols, ranked.map((r) => ({ ...r, key: r.clone_id })))
    : CS.el("p", { text: "No clone matches." }));
  const ucols = [
    { head: "Clone", value: (r) => r.clone_id, show: cloneLink },
    { head: "Campaign", value: (r) => r.campaign_id },
    { head: "Runs", value: (r) => r.runs, num: true },
    { head: "Reasons", value: (r) => r.reasons || "",
      show: (r) => CS.reasons(r.reasons).join("; ") || "no reason given" },
  ];
  $("unknown-head").textContent = `Unknown clones: not ranked (${unknown.length})`;
  $("unknown").replaceChildren(unknown.length
    ? CS.table("unknown-table", "Unknown clones", ucols, unknown)
    : CS.el("p", { text: "No unknown clone." }));
}

function renderRejects(rejects) {
  $("rejects-head").textContent = `Runs set aside (${rejects.length})`;
  const cols = [
    { head: "Run", value: (r) => r.run_id },
    { head: "Stage", value: (r) => r.stage },
    { head: "Reason (file, line, column, rule)", value: (r) => r.reason },
  ];
  $("rejects").replaceChildren(rejects.length
    ? CS.table("rejects-table", "Runs set aside", cols, rejects)
    : CS.el("p", { text: "No run was set aside." }));
}

document.addEventListener("DOMContentLoaded", () => {
  loadMappings();
  $("upload").addEventListener("submit", upload);
  $("filter").addEventListener("input", () => current && renderClones());
  $("flag-filter").addEventListener("change", () => current && renderClones());
  const m = /job=([0-9a-f]{24})/.exec(window.location.hash);
  if (m) follow(m[1]).catch((err) => failed(err, "This campaign is no longer available"));
});

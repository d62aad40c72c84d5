// The clone page: its runs, predictions, risks and reasons; its what-if (sliders bounded
// to the training box, each release answered by the service's /whatif), the design-space
// map (click a cell to move the sliders there), the recommendation and the next runs.
"use strict";

const $ = (id) => document.getElementById(id);
const EPP = "expected_product_g_l";
const P_SPEC = "p_meet_spec";
const MAP_STEPS = 15;
let view = null;     // the clone's data from the job
let factors = [];    // [{name, low, high, platform}]
let plan = [];       // the next experiments' rows
let asked = 0;       // the latest what-if request (older answers are dropped)

const label = (name) => name.replace(/_/g, " ");

function runsTable(runs, targets) {
  const cols = [
    { head: "Run", value: (r) => r.run_id },
    { head: "Flag", value: (r) => r.flag, show: (r) => CS.flag(r.flag) },
    ...targets.map((t) => ({
      head: label(t), tip: `${t}: prediction [90 % interval]`, num: true,
      value: (r) => CS.num(r[t]), show: (r) => CS.ranged(r[t], r[`${t}_lo90`], r[`${t}_hi90`]),
    })),
    { head: "Glycan risk", num: true, value: (r) => CS.num(r.glycans_risk),
      show: (r) => CS.share(r.glycans_risk) },
    { head: "Downstream risk", num: true, value: (r) => CS.num(r.downstream_risk),
      show: (r) => CS.share(r.downstream_risk) },
  ];
  return CS.table("runs-table", "Runs and predictions", cols, runs);
}

function limitsTable(runs, limits) {
  const judged = limits.filter((l) => l.judged);
  const range = (l) => (l.min !== null && l.max !== null ? `${l.min}–${l.max}`
    : l.min !== null ? `≥ ${l.min}` : `≤ ${l.max}`) + (l.unit ? ` ${l.unit}` : "");
  const cols = [
    { head: "Limit", value: (l) => l.attribute, show: (l) => `${label(l.attribute)} ${range(l)}` },
    { head: "Group", value: (l) => l.group },
    ...runs.map((r) => ({
      head: `P(out), ${r.run_id}`, num: true, value: (l) => CS.num(r[`risk__${l.attribute}`]),
      show: (l) => CS.share(r[`risk__${l.attribute}`]),
    })),
    { head: "Why it matters", value: (l) => l.why || "" },
  ];
  return CS.table("limits-table", "Risk per spec limit", cols, judged);
}

function reasonsList(runs, ranking) {
  const box = CS.el("div");
  if (ranking && ranking.reasons) {
    box.append(CS.el("p", {}, CS.el("strong", { text: "Clone: " }),
      CS.reasons(ranking.reasons).join("; ")));
  }
  for (const r of runs) {
    const items = [];
    if (r.flag_reason) items.push(`flag: ${r.flag_reason}`);
    items.push(...CS.reasons(r.reasons));
    if (r.extrapolation) items.push(`outside experience: ${r.extrapolation}`);
    if (!items.length) continue;
    const ul = CS.el("ul");
    for (const it of items) ul.append(CS.el("li", { text: it }));
    box.append(CS.el("details", {}, CS.el("summary", {
      text: `Run ${r.run_id}: ${r.flag}${r.flag_reason ? ` (${r.flag_reason})` : ""}, ` +
        `${items.length} reasons` }), ul));
  }
  if (!box.childNodes.length) box.append(CS.el("p", { text: "No reason recorded for this clone." }));
  return box;
}

function place(ranking) {
  const box = $("place");
  box.replaceChildren();
  if (!ranking) return;
  const dl = CS.el("dl", { class: "card" });
  const add = (k, v) => dl.append(CS.el("dt", { text: k }), CS.el("dd", {}, v));
  add("Rank", ranking.rank === null ? "not ranked (unknown)" : String(ranking.rank));
  add("Flag", CS.flag(ranking.flag));
  add("Campaign", ranking.campaign_id);
  add("Expected product (g/L)", CS.ranged(ranking.expected_product_g_l,
    ranking.expected_product_lo90, ranking.expected_product_hi90));
  add("Purification yield (%)", CS.ranged(ranking.dsp_yield_pct, ranking.dsp_yield_lo90,
    ranking.dsp_yield_hi90));
  add("Glycan risk", CS.share(ranking.glycans_risk));
  box.append(dl);
}

// -- what-if -------------------------------------------------------------------------
function step(f) {
  const span = f.high - f.low;
  const p = Math.pow(10, Math.floor(Math.log10(span / 100)));
  return p;
}

function sliders() {
  const form = $("sliders");
  form.replaceChildren();
  for (const f of factors) {
    const id = `f-${f.name}`;
    const start = f.platform !== null && f.platform >= f.low && f.platform <= f.high
      ? f.platform : (f.low + f.high) / 2;
    const input = CS.el("input", { id, type: "range", min: f.low, max: f.high, step: step(f),
      value: start, "data-factor": f.name, "aria-describedby": `${id}-bounds` });
    const out = CS.el("output", { for: id, id: `${id}-value`, text: CS.sig(start, 4) });
    input.addEventListener("input", () => { out.textContent = CS.sig(input.value, 4); });
    input.addEventListener("change", () => ask());
    form.append(CS.el("div", { class: "slider" },
      CS.el("label", { for: id }, CS.el("span", { text: label(f.name) }), out),
      input,
      CS.el("div", { class: "bounds", id: `${id}-bounds` },
        CS.el("span", { text: `trained from ${CS.sig(f.low, 4)}` }),
        CS.el("span", { text: `platform ${CS.sig(f.platform, 4)}` }),
        CS.el("span", { text: `to ${CS.sig(f.high, 4)}` }))));
  }
}

function point() {
  const p = {};
  for (const input of $("sliders").querySelectorAll("input[type=range]")) {
    p[input.dataset.factor] = Number(input.value);
  }
  return p;
}

function setPoint(p) {
  for (const [name, v] of Object.entries(p)) {
    const input = document.getElementById(`f-${name}`);
    if (!input || v === null || v === undefined) continue;
    input.value = v;
    document.getElementById(`f-${name}-value`).textContent = CS.sig(v, 4);
  }
}

function whatifBody(extra) {
  return { request: { ...view.whatif, ...extra } };
}

// one release of a slider: the point as the only candidate, no map (the map has its own call)
async function ask() {
  const p = point();
  const mine = ++asked;
  $("answer").setAttribute("aria-busy", "true");
  $("answer").dataset.asked = JSON.stringify(p);
  try {
    const body = await CS.postJSON("/whatif", whatifBody({ candidates: [p], design_space: null }));
    if (mine !== asked) return;
    $("whatif-error").hidden = true;
    showAnswer(p, body);
  } catch (err) {
    if (mine !== asked) return;
    CS.showError($("whatif-error"), err, "The service could not answer for this point");
  } finally {
    if (mine === asked) $("answer").removeAttribute("aria-busy");
  }
}

function same(a, b) {
  return factors.every((f) => Math.abs(Number(a[f.name]) - Number(b[f.name])) <= 1e-9 *
    Math.max(1, Math.abs(Number(b[f.name]))));
}

function showAnswer(p, body) {
  const box = $("answer");
  box.replaceChildren();
  box.dataset.point = JSON.stringify(p);
  const hit = (body.candidates || []).find((c) => c.source !== "platform" &&
    !String(c.source || "").startsWith("run ") && same(c, p));
  if (!hit) {
    const ex = (body.excluded || []).find((c) => same(c, p));
    box.className = "answer panel outside";
    box.append(CS.el("p", { class: "big", text: "Outside the model's domain" }),
      CS.el("p", { id: "outside-reason", text: ex ? ex.reason : "this point was not scored" }));
    box.dataset.state = "outside";
    return;
  }
  box.className = "answer panel";
  box.dataset.state = "inside";
  box.append(
    CS.el("p", {}, "Expected product ",
      CS.el("span", { class: "big", id: "ans-epp", text: CS.sig(hit[EPP]) }),
      ` g/L [${CS.sig(hit[`${EPP}_lo`])}–${CS.sig(hit[`${EPP}_hi`])}]`),
    CS.el("p", {}, "P(meet every spec limit) ",
      CS.el("span", { class: "big", id: "ans-pspec", text: CS.share(hit[P_SPEC]) })));
  const targets = ((view.process && view.process.targets) || []).filter((t) => t in hit);
  const cols = [
    { head: "Attribute", value: (r) => r.key, show: (r) => label(r.key) },
    { head: "Expected", num: true, value: (r) => CS.num(hit[r.key]), show: (r) => CS.sig(hit[r.key]) },
    { head: "80 % interval", value: (r) => CS.num(hit[`${r.key}_lo`]),
      show: (r) => `${CS.sig(hit[`${r.key}_lo`])}–${CS.sig(hit[`${r.key}_hi`])}` },
  ];
  box.append(CS.table("answer-table", "Each attribute at this point", cols,
    targets.map((t) => ({ key: t }))));
}

// -- the map, the recommendation and the plan -----------------------------------------
async function loadMap() {
  const fx = $("map-x").value, fy = $("map-y").value;
  if (fx === fy) {
    CS.showError($("whatif-error"), { body: { error: "choose two different factors" } },
      "The map needs two factors");
    return;
  }
  $("map").setAttribute("aria-busy", "true");
  try {
    const body = await CS.postJSON("/whatif", whatifBody({ design_space: [fx, fy],
      next_experiments: 4 }));
    drawMap(body, fx, fy);
    showRecommended(body);
    showPlan(body.next_experiments);
  } catch (err) {
    CS.showError($("whatif-error"), err, "The design space could not be mapped");
  } finally {
    $("map").removeAttribute("aria-busy");
  }
}

function drawMap(body, fx, fy) {
  const cells = (body.design_space || []).filter((c) => c.inside);
  const at = body.recommended || {};
  $("map").dataset.at = JSON.stringify(at);
  const xs = [...new Set(cells.map((c) => c[fx]))].sort((a, b) => a - b);
  const ys = [...new Set(cells.map((c) => c[fy]))].sort((a, b) => a - b);
  const z = ys.map((y) => xs.map((x) => {
    const c = cells.find((k) => k[fx] === x && k[fy] === y);
    return c ? c[P_SPEC] : null;
  }));
  const traces = [{ type: "heatmap", x: xs, y: ys, z, zmin: 0, zmax: 1, colorscale: "Viridis",
    colorbar: { title: { text: "P(spec)" } },
    hovertemplate: `${label(fx)} %{x}<br>${label(fy)} %{y}<br>P(spec) %{z:.2f}<extra></extra>` }];
  if (at[fx] !== undefined) {
    traces.push({ type: "scatter", mode: "markers", x: [at[fx]], y: [at[fy]], name: "recommended",
      marker: { symbol: "star", size: 14, color: "#ff6b00", line: { color: "#fff", width: 1 } } });
  }
  const layout = { margin: { t: 20, r: 10, b: 50, l: 60 }, height: 440,
    xaxis: { title: { text: label(fx) } }, yaxis: { title: { text: label(fy) } },
    showlegend: false };
  Plotly.react("map", traces, layout, { displaylogo: false, responsive: true });
  mapTable(fx, fy, xs, ys, z);
  const map = $("map");
  map.dataset.cells = String(cells.length);
  map.removeAllListeners?.("plotly_click");
  map.on("plotly_click", (ev) => {
    const pt = ev.points && ev.points[0];
    if (!pt) return;
    const p = { ...at };
    p[fx] = pt.x;
    p[fy] = pt.y;
    for (const f of factors) if (p[f.name] === undefined) p[f.name] = point()[f.name];
    setPoint(p);
    ask();
  });
}

// the map's numbers for a screen reader or a keyboard: P(spec) per cell, a row per
// value of the vertical factor
function mapTable(fx, fy, xs, ys, z) {
  const table = CS.el("table", { id: "map-cells" });
  table.append(CS.el("caption", { text:
    `P(meet spec): ${label(fy)} down, ${label(fx)} across` }));
  const head = CS.el("tr", {}, CS.el("th", { scope: "col", text: `${label(fy)} ↓, ${label(fx)} →` }));
  for (const x of xs) head.append(CS.el("th", { scope: "col", class: "num", text: CS.sig(x) }));
  const body = CS.el("tbody");
  ys.forEach((y, i) => {
    const tr = CS.el("tr", {}, CS.el("th", { scope: "row", class: "num", text: CS.sig(y) }));
    for (const p of z[i]) tr.append(CS.el("td", { class: "num", text: CS.sig(p, 2) }));
    body.append(tr);
  });
  table.append(CS.el("thead", {}, head), body);
  $("map-table").replaceChildren(table);
}

function showRecommended(body) {
  const box = $("recommended");
  box.replaceChildren();
  const rec = body.recommended;
  if (!rec) {
    box.append(CS.el("p", { text: (body.reasons || []).join("; ") || "no recommendation" }));
    return;
  }
  const dl = CS.el("dl", { class: "card panel", id: "recommended-card" });
  for (const f of factors) {
    dl.append(CS.el("dt", { text: label(f.name) }), CS.el("dd", { text: CS.sig(rec[f.name], 4) }));
  }
  dl.append(CS.el("dt", { text: "Expected product (g/L)" }),
    CS.el("dd", { text: CS.ranged(rec[EPP], rec[`${EPP}_lo`], rec[`${EPP}_hi`]) }),
    CS.el("dt", { text: "P(meet every spec limit)" }), CS.el("dd", { text: CS.share(rec[P_SPEC]) }));
  box.append(dl);
  const ul = CS.el("ul");
  for (const r of body.reasons || []) ul.append(CS.el("li", { text: r }));
  box.append(ul);
  box.append(CS.el("button", { type: "button", class: "primary", text: "Set the sliders here",
    onclick: () => { setPoint(rec); ask(); } }));
}

function showPlan(next) {
  plan = (next && next.proposed) || [];
  const box = $("plan");
  box.replaceChildren();
  if (!plan.length) {
    box.append(CS.el("p", { text: (next && (next.why || next.note)) || "No experiment proposed." }));
    $("download-plan").disabled = true;
    return;
  }
  const keys = planColumns();
  const cols = keys.map((k) => ({ head: label(k), value: (r) => r[k],
    show: (r) => (typeof r[k] === "number" ? CS.sig(r[k], 4) : r[k]), num: typeof plan[0][k] === "number" }));
  box.append(CS.table("plan-table", "Next experiments", cols, plan));
  $("download-plan").disabled = false;
}

function planColumns() {
  const keys = [];
  for (const r of plan) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
  return keys;
}

function downloadPlan() {
  CS.download(`next_experiments_${view.clone_id}.csv`, CS.csv(plan, planColumns()));
}

// -- load -----------------------------------------------------------------------------
async function load() {
  const q = CS.params();
  const job = q.get("job"), clone = q.get("clone");
  if (!job || !clone) {
    CS.showError($("error"), { body: { error: "open a clone from a scored campaign's ranking",
      detail: [{ path: "address", expected: "/ui/clone?job=…&clone=…" }] } }, "No clone chosen");
    $("status").textContent = "";
    return;
  }
  $("back").href = `/ui/#job=${encodeURIComponent(job)}`;
  try {
    view = await CS.api(`/ui/api/jobs/${encodeURIComponent(job)}/clones/${encodeURIComponent(clone)}`);
  } catch (err) {
    CS.showError($("error"), err, "This clone could not be opened");
    $("status").textContent = "";
    return;
  }
  document.title = `${view.clone_id} · clonescout`;
  $("title").textContent = `Clone ${view.clone_id}`;
  place(view.ranking);
  $("runs").replaceChildren(view.runs.length ? runsTable(view.runs, view.targets)
    : CS.el("p", { text: "No run of this clone was scored." }));
  $("limits").replaceChildren(view.runs.length ? limitsTable(view.runs, view.limits) : "");
  $("reasons").replaceChildren(reasonsList(view.runs, view.ranking));
  $("content").hidden = false;
  $("status").textContent = "";
  if (view.process && view.whatif) {
    factors = view.process.factors;
    sliders();
    for (const sel of [$("map-x"), $("map-y")]) {
      for (const f of factors) sel.append(CS.el("option", { value: f.name, text: label(f.name) }));
    }
    $("map-x").value = factors.some((f) => f.name === "temp_after_shift_c")
      ? "temp_after_shift_c" : factors[0].name;
    const y = factors.find((f) => f.name === "seed_density_e6_ml" && f.name !== $("map-x").value)
      || factors.find((f) => f.name !== $("map-x").value);
    $("map-y").value = y.name;
    $("map-x").addEventListener("change", loadMap);
    $("map-y").addEventListener("change", loadMap);
    $("download-plan").addEventListener("click", downloadPlan);
    $("process-section").hidden = false;
    await Promise.all([ask(), loadMap()]);
    document.body.dataset.ready = "true";
  } else {
    document.body.dataset.ready = "true";
  }
}

document.addEventListener("DOMContentLoaded", load);

// clonescout pages: shared helpers. Plain JavaScript, no framework, nothing from elsewhere.
// Every text from the data is set with textContent (never innerHTML): a clone called
// "<script>" is shown, never run.
"use strict";

const CS = {};

// fetch a JSON route of this service; a failure throws an Error whose .body is the
// service's error answer ({error, detail: [{path, value, expected}]})
CS.api = async function (path, options = {}) {
  const opts = { credentials: "same-origin", ...options };
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    const err = new Error("the service could not be reached (is it running?)");
    err.body = { error: err.message, detail: [] };
    throw err;
  }
  let body = null;
  const text = await res.text();
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
  if (res.status === 401) {
    window.location.assign("/ui/login");
  }
  if (!res.ok) {
    const message = (body && (body.error || body.message)) || `HTTP ${res.status}`;
    const err = new Error(message);
    err.status = res.status;
    err.body = body && typeof body === "object" ? body : { error: message, detail: [] };
    throw err;
  }
  return body;
};

CS.postJSON = (path, payload) => CS.api(path, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(payload),
});

CS.el = function (tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
};

// an error answer shown as the CLI says it: what, then each problem's where / found / expected
CS.showError = function (box, err, title = "The service refused this") {
  box.replaceChildren();
  box.hidden = false;
  const body = (err && err.body) || { error: String(err && err.message || err), detail: [] };
  box.append(CS.el("h3", { text: title }), CS.el("p", { text: body.error || "unknown error" }));
  const problems = body.detail || body.problems || [];
  if (problems.length) {
    const ul = CS.el("ul");
    for (const p of problems) {
      const parts = [];
      if (p.path) parts.push(p.path);
      if (p.value !== undefined && p.value !== null) parts.push(`found ${JSON.stringify(p.value)}`);
      if (p.expected) parts.push(`expected ${p.expected}`);
      ul.append(CS.el("li", { text: parts.join(": ") }));
    }
    box.append(ul);
  }
};

CS.num = (v) => (v === null || v === undefined || v === "" || Number.isNaN(Number(v)))
  ? null : Number(v);

// a number with 3 significant digits (as the report writes them); "–" when missing
CS.sig = function (v, digits = 3) {
  const x = CS.num(v);
  if (x === null) return "–";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1000 || a < 0.001) return x.toPrecision(digits);
  return String(Number(x.toPrecision(digits)));
};

CS.share = (v) => (CS.num(v) === null ? "–" : `${(100 * Number(v)).toFixed(0)} %`);

CS.ranged = (v, lo, hi) => {
  const inner = (CS.num(lo) !== null || CS.num(hi) !== null)
    ? ` [${CS.sig(lo)}–${CS.sig(hi)}]` : "";
  return CS.sig(v) + inner;
};

CS.flag = function (flag) {
  const f = flag || "–";
  return CS.el("span", { class: `flag ${f === "at risk" ? "risk" : f}`, text: f });
};

// reasons as the scores file keeps them: a JSON object {target: [text, ...]} or plain text
CS.reasons = function (text) {
  if (!text) return [];
  if (typeof text !== "string") return [].concat(...Object.values(text));
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === "object") {
      const out = [];
      for (const [k, v] of Object.entries(parsed)) {
        for (const r of [].concat(v)) out.push(Array.isArray(parsed) ? String(r) : `${k}: ${r}`);
      }
      return out;
    }
  } catch (e) { /* plain text */ }
  return text.split(/;\s*/).filter(Boolean);
};

// a table whose headers sort it: each header is a button (keyboard works), aria-sort says
// the order; cells sort on data-v (numbers as numbers, missing always last)
CS.table = function (id, caption, columns, rows) {
  const table = CS.el("table", { id, class: "sortable" });
  table.append(CS.el("caption", { class: "sr-only", text: caption }));
  const tr = CS.el("tr");
  columns.forEach((col, i) => {
    const th = CS.el("th", { scope: "col", title: col.tip || null });
    th.append(CS.el("button", { type: "button", text: col.head, onclick: () => CS.sort(table, i) }));
    tr.append(th);
  });
  table.append(CS.el("thead", {}, tr));
  const tbody = CS.el("tbody");
  for (const row of rows) {
    const r = CS.el("tr", { "data-key": row.key || null });
    columns.forEach((col) => {
      const v = col.value(row);
      const td = CS.el("td", { "data-v": v === null || v === undefined ? "" : String(v),
        class: col.num ? "num" : null });
      const shown = col.show ? col.show(row) : v;
      td.append(shown instanceof Node ? shown : document.createTextNode(
        shown === null || shown === undefined ? "–" : String(shown)));
      r.append(td);
    });
    tbody.append(r);
  }
  table.append(tbody);
  return CS.el("div", { class: "table-wrap" }, table);
};

CS.sort = function (table, index) {
  const th = table.tHead.rows[0].cells[index];
  const asc = th.getAttribute("aria-sort") !== "ascending";
  for (const h of table.tHead.rows[0].cells) h.removeAttribute("aria-sort");
  th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  const rows = Array.from(table.tBodies[0].rows);
  const key = (r) => r.cells[index].dataset.v;
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === "" && y === "") return 0;
    if (x === "") return 1;
    if (y === "") return -1;
    const nx = Number(x), ny = Number(y);
    const c = (!Number.isNaN(nx) && !Number.isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return asc ? c : -c;
  });
  table.tBodies[0].append(...rows);
};

CS.download = function (name, text, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = CS.el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
};

CS.csv = function (rows, columns) {
  const cell = (v) => {
    if (v === null || v === undefined) return "";
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))]
    .join("\n") + "\n";
};

CS.params = () => new URLSearchParams(window.location.search);

// the sign-in page: say when the key was refused
document.addEventListener("DOMContentLoaded", () => {
  const failed = document.getElementById("failed");
  if (failed && CS.params().get("failed")) failed.hidden = false;
});

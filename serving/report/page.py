"""The HTML page: head, style, navigation, inline scripts; and writing it atomically.

The page opens with no network: plotly.js is inlined once, each figure is a JSON block
read by a few lines of inline JavaScript, and a Content-Security-Policy forbids fetching
anything.
"""

from __future__ import annotations

from pathlib import Path

from plotly.offline import get_plotlyjs

from features.contract.files import write_text
from models.ranking import RANKED, UNKNOWN
from serving.report.figures import plots
from serving.report.formatting import esc
from serving.report.process import process_section, read_process
from serving.report.reading import ReportInputs, read_inputs
from serving.report.sections import flags_section, not_judged_section, summary_section
from serving.report.tables import clone_sections

# default-src 'none': the page can fetch nothing, whatever a library would like to load
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:"
)
CSS = """
:root { --ink: #1d2430; --muted: #5b6575; --line: #d9dee7; --risk: #b35c00; --unk: #6e4bb5; }
body { margin: 0; background: #f4f6f9; color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
header { background: var(--ink); color: #fff; padding: 14px 24px; }
header h1 { margin: 0 0 4px; font-size: 20px; }
header nav a { color: #cfe1ff; margin-right: 14px; }
main { max-width: 1500px; margin: 0 auto; padding: 4px 24px 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 20px; margin: 16px 0; }
h2 { font-size: 17px; margin: 4px 0 10px; } h3 { font-size: 15px; margin: 14px 0 6px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
.facts dt { color: var(--muted); } .facts dd { margin: 0; }
code { font-size: 12px; background: #f0f2f5; padding: 1px 4px; border-radius: 3px;
  word-break: break-all; }
.table-wrap { max-height: 70vh; overflow: auto; border: 1px solid var(--line); }
.table-wrap.short { max-height: 320px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #eceff4; text-align: left;
  vertical-align: top; }
thead th { position: sticky; top: 0; background: #e9edf3; z-index: 1; }
table.sortable th { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable th[aria-sort=ascending]::after { content: " ▲"; }
table.sortable th[aria-sort=descending]::after { content: " ▼"; }
td { white-space: nowrap; } td.reasons { white-space: normal; min-width: 220px; }
td.clone { white-space: normal; overflow-wrap: anywhere; min-width: 8em; max-width: 14em; }
td small { color: var(--muted); }
tr.risk td:first-child { box-shadow: inset 4px 0 var(--risk); }
.flag { padding: 1px 6px; border-radius: 9px; font-size: 12px; background: #e3f4e8; }
.flag.risk { background: #fde6cf; color: #7a3d00; }
.flag.unknown { background: #ece5f8; color: var(--unk); }
td.pareto { color: #111; text-align: center; }
.note { color: var(--muted); }
.plot { width: 100%; }
"""
SORT_JS = """
(function () {
  function value(cell) {
    var raw = cell.getAttribute('data-v');
    if (raw === null) raw = cell.textContent.trim();
    if (raw === '') return null;
    var n = Number(raw);
    return isFinite(n) ? n : raw;
  }
  function sortBy(table, col, th) {
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    Array.prototype.forEach.call(th.parentNode.cells, function (h) {
      h.removeAttribute('aria-sort');
    });
    var body = table.tBodies[0];
    var rows = Array.prototype.map.call(body.rows, function (r, i) {
      return {row: r, v: value(r.cells[col]), i: i};
    });
    rows.sort(function (a, b) {
      if (a.v === null || b.v === null) {  // missing values last, in either direction
        return (a.v === null) - (b.v === null) || a.i - b.i;
      }
      var c = (typeof a.v === 'number' && typeof b.v === 'number') ? a.v - b.v
        : String(a.v).localeCompare(String(b.v), undefined, {numeric: true});
      return (asc ? c : -c) || a.i - b.i;
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (x) { frag.appendChild(x.row); });
    body.appendChild(frag);
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.addEventListener('click', function () { sortBy(table, col, th); });
      th.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(table, col, th); }
      });
    });
  });
})();
"""
PLOT_JS = """
(function () {
  var drawn = [];
  document.querySelectorAll('script.plot-data').forEach(function (el) {
    var fig = JSON.parse(el.textContent);
    drawn.push(Plotly.newPlot(el.getAttribute('data-for'), fig.data, fig.layout,
      {displaylogo: false, responsive: true}));
  });
  Promise.all(drawn).then(function () { document.body.setAttribute('data-plots', 'drawn'); });
})();
"""


NAV = (
    ("summary", "Summary"),
    ("ranked", "Ranked clones"),
    ("unknown", "Unknown clones"),
    ("flags", "Flags"),
    ("pareto-section", "Product vs risk"),
    ("yield-titer-section", "Yield vs titer"),
    ("risk-section", "Risk by limit"),
    ("not-judged", "Not judged"),
    ("process", "Process"),
)


def _inline_js(js: str) -> str:
    r"""Script text that cannot close its ``<script>`` early (``<\/`` means ``</`` in JS)."""
    return js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def render_page(inp: ReportInputs, process: dict | None = None) -> str:
    """The whole HTML page of checked inputs (see :func:`read_inputs`).

    ``process`` is the checked ``process.json`` of ``clonescout process`` (section 8).
    """
    c = inp.clones
    ranked, unknown = c[c["status"] == RANKED], c[c["status"] == UNKNOWN]
    s = inp.summary
    title = f"clonescout report: {len(ranked)} clones ranked, {len(unknown)} unknown"
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in NAV)
    body = [
        summary_section(inp),
        *clone_sections(inp, ranked, unknown),
        flags_section(inp, ranked, unknown),
        *plots(inp, ranked),
        not_judged_section(inp, ranked, unknown),
        process_section(process),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>"
        f"<header><h1>{esc(title)}</h1><div>spec {esc(s['spec']['name'])} · model "
        f"{esc(s['model']['name'])} version {esc(s['model']['version'])}</div>"
        f"<nav>{nav}</nav></header>\n<main>{''.join(body)}</main>\n"
        f"<script>{_inline_js(get_plotlyjs())}</script>\n<script>{PLOT_JS}</script>\n"
        f"<script>{SORT_JS}</script>\n</body></html>\n"
    )


def render_report(scores: Path) -> str:
    """The report of ``clonescout score``'s files beside ``scores`` as one HTML page.

    Raises
    ------
    ValueError
        A file or key missing or malformed, naming it and what is expected.
    """
    return render_page(read_inputs(scores), read_process(scores))


def write_report(scores: Path, out: Path) -> Path:
    """Render, then write ``out`` atomically (:func:`write_text`): never half a page."""
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--out {out}: write the report to a .html file")
    page = render_report(scores)  # every check passes before anything is written
    return write_text(out, page)

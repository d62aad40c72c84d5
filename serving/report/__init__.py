r"""``clonescout report``: one self-contained HTML page for the lead who picks the clones.

Reads what ``clonescout score --out scores.parquet`` wrote: the per-run file (checked to
exist), ``scores.clones.parquet`` (one row per clone, ranked or unknown),
``scores.summary.json`` (counts, model, spec, ranking) and ``scores.rejects.csv`` (only when
runs were rejected). Every file and key is checked before anything is written, and a
problem is a :class:`ValueError` naming the file, the key or column, and what was expected.

The page opens with no network: plotly.js is inlined once, each figure is a JSON block
read by a few lines of inline JavaScript, and a Content-Security-Policy forbids fetching
anything. Every string that came from the data (clone ids, reasons, spec names) is
HTML-escaped, and ``<``, ``>`` and ``&`` are ``\u``-escaped inside the JSON blocks, so a clone
called ``<script>`` is shown, never run.

The package, in the order the data flows: :mod:`serving.report.reading` finds and checks
the files; :mod:`serving.report.formatting` turns numbers, limits and reasons into words;
:mod:`serving.report.tables` (the sortable clone tables), :mod:`serving.report.sections`
(summary, flags, what was not judged) and :mod:`serving.report.figures` (the plotly
figures) build the parts; :mod:`serving.report.page` assembles and writes the page.
"""

from serving.report.page import render_report, write_report
from serving.report.reading import sibling

__all__ = ["render_report", "sibling", "write_report"]

"""Reports: charts, tables, executive summary, provenance and HTML rendering.

Submodules (imported on use, so ``import arforecast.reporting`` stays light):

- `arforecast.reporting.charts` — static matplotlib charts and `figure_to_png`;
- `arforecast.reporting.tables` — escaped, formatted HTML tables;
- `arforecast.reporting.summary` — the executive summary and its e-mail assets
  (``summary.json`` + PNG charts; the schema is in that module's docstring);
- `arforecast.reporting.provenance` — report inputs, title and provenance footer;
- `arforecast.reporting.render` — executed notebook → self-contained HTML.
"""

from __future__ import annotations

__all__ = ["charts", "provenance", "render", "summary", "tables"]

"""Published models on the board: the estimates file of ``robustperf zoo cost -o ESTIMATES.json`` read and shown
on each benchmark's page in its own group, "published models, estimated cost", below the measured results.

The estimates are never mixed with measured results: they are not :class:`.model.Result` s, enter no rank, no
Pareto front and no count of results; each row says how its figures were obtained (``estimated-from-card``), from
which training card and at which device source, and shows the range the card leaves open (low-high). The board
stays torch-free: it reads the JSON file only (``robustperf board ... --zoo ESTIMATES.json``).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from results.record import RecordError, read_json

from .errors import BoardError
from .markup import DASH, esc, sort_value

FORMAT = "robustperf-zoo-estimates/1"
BASIS = "estimated-from-card"
#: (estimate key, column label, unit divisor)
FIGURES = (("train_flops", "training FLOPs", 1.0), ("device_hours", "device-hours", 1.0), ("kwh", "kWh", 1.0),
           ("cloud_usd", "cloud $", 1.0), ("co2_kg", "kg CO2", 1.0))


def read_estimates(paths: Sequence[str]) -> Dict[str, List[Dict[str, Any]]]:
    """benchmark -> its estimates, from the estimates files ``paths``.

    Raises:
        BoardError: a file that cannot be read, of another format, or an estimate without its label, model,
            benchmark or ranges (the file, the entry and the key named).
    """
    out: Dict[str, List[Dict[str, Any]]] = {}
    for path in paths:
        try:
            doc = read_json(path)
        except RecordError as err:
            raise BoardError(f"the estimates file cannot be read: {err.reason}", path=path) from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("estimates"), list):
            raise BoardError(f"not an estimates file of robustperf zoo cost -o (format {FORMAT!r} with a list "
                             f"'estimates')", path=path)
        for i, entry in enumerate(doc["estimates"]):
            where = f"estimates[{i}]"
            if not isinstance(entry, dict):
                raise BoardError(f"{where}: expected a mapping", path=path)
            if entry.get("basis") != BASIS:
                raise BoardError(f"{where}: key 'basis' must be {BASIS!r} (got {entry.get('basis')!r}); the board "
                                 "keeps measured and estimated figures apart", path=path)
            for key in ("model", "benchmark"):
                if not isinstance(entry.get(key), str) or not entry[key]:
                    raise BoardError(f"{where}: key {key!r}: expected a text (got {entry.get(key)!r})", path=path)
            for key, _, _ in FIGURES:
                value = entry.get(key)
                if value is not None and not (isinstance(value, dict) and all(
                        isinstance(value.get(e), (int, float)) and not isinstance(value.get(e), bool)
                        for e in ("low", "high"))):
                    raise BoardError(f"{where}: key {key!r}: expected {{low, high}} numbers or null "
                                     f"(got {value!r})", path=path)
            out.setdefault(entry["benchmark"], []).append(entry)
    return out


def _span(value: Optional[Dict[str, float]]) -> str:
    if not value:
        return DASH
    low, high = value["low"], value["high"]
    return f"{low:.3g}" if low == high else f"{low:.3g}\u2013{high:.3g}"


def zoo_section(estimates: Sequence[Dict[str, Any]]) -> str:
    """The "published models, estimated cost" group of a benchmark page (empty text without estimates)."""
    if not estimates:
        return ""
    heads = "".join(f'<th data-type="{kind}" aria-sort="none"><button type="button">{esc(label)}</button></th>'
                    for kind, label in [("text", "model"), ("text", "method")]
                    + [("number", f"{label} (low\u2013high)") for _, label, _ in FIGURES] + [("text", "card")])
    rows = []
    for e in sorted(estimates, key=lambda e: str(e["model"])):
        cells = [f'<td data-value="{esc(e["model"])}">{esc(e["model"])}</td>',
                 f'<td data-value="{esc(e.get("method") or "")}">{esc(e.get("method") or DASH)}</td>']
        for key, _, _ in FIGURES:
            value = e.get(key)
            cells.append(f'<td class="num" data-value="{esc(sort_value(value["high"] if value else None))}">'
                         f'{esc(_span(value))}</td>')
        note = e.get("unknown") or e.get("card") or ""
        cells.append(f'<td title="{esc(note)}">{esc(str(e.get("card") or "").rsplit("/", 1)[-1] or DASH)}</td>')
        rows.append(f'<tr class="estimated" data-basis="{BASIS}" data-model="{esc(e["model"])}">{"".join(cells)}</tr>')
    devices = sorted({f'{e["device"]["name"]} ({e["device"]["source"]})' for e in estimates if e.get("device")})
    device = ("at " + "; ".join(esc(d) for d in devices) + ", its measured training throughput and power"
              if devices else "in FLOPs only (no device given to robustperf zoo cost)")
    return f"""<section class="zoo" id="zoo-estimates" aria-label="published models, estimated cost">
<h2>Published models, estimated cost</h2>
<p class="note">Not measured: every figure is <strong>{BASIS}</strong>, the training compute of a published model
estimated from its training card (each number with its source in the paper) with the suite's own FLOP accounting,
{device}. A range is what the card leaves open (low&ndash;high). These models enter no rank and no Pareto
front.</p>
<div class="scroll"><table class="board sortable" id="zoo-table" data-basis="{BASIS}">
<thead><tr>{heads}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table></div>
</section>"""

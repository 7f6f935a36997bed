"""HTML building blocks of the board: escaping, numbers, the page shell and embedded JSON.

Everything that comes from an input goes through :func:`esc` (text and attribute values) or :func:`json_script`
(chart data, whose ``<``, ``>`` and ``&`` become ``\\u`` escapes, so no input can close the script element).
Pages hold no inline script: the page's Content-Security-Policy allows scripts from the site's own files only
(``assets/board.js`` and ``assets/plotly.min.js``), a second line of defence behind the escaping.
"""
from __future__ import annotations

import html
import json
import math
from typing import Any, Iterable, Optional

from ..summary import cell

#: the policy of every page: own files only, nothing from the network, no inline script
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'")
DASH = "\u2014"


def esc(value: Any) -> str:
    """``value`` as HTML text or a quoted attribute value."""
    return html.escape("" if value is None else str(value), quote=True)


def number(value: Any, column: str = "") -> str:
    """A figure for reading: percents with 2 decimals, counts as integers, FLOPs in e-notation, others with 4
    significant digits; an empty value is a dash."""
    if value is None or value == "":
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return esc(value)
    if column.endswith("accuracy") or column.startswith(("robust_accuracy", "clean_accuracy")):
        return f"{value:.2f}"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e6 and "flops" not in column):
        return f"{int(value):,}"
    if "flops" in column or abs(value) >= 1e6 or (value != 0 and abs(value) < 1e-4):
        return f"{value:.3e}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def sort_value(value: Any) -> str:
    """The ``data-value`` a table cell sorts by: full precision for numbers, 1/0 for booleans, '' for none."""
    return cell(value, true="1", false="0")


def json_script(element_id: str, data: Any) -> str:
    """``data`` as a JSON data block (never executed) the page's script reads by id."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def page(title: str, body: str, root: str, charts: bool = False, crumbs: Iterable[tuple] = ()) -> str:
    """A whole page. ``root`` is the relative path to the site's top (``""`` or ``"../../"``); ``crumbs`` are
    ``(label, href)`` pairs of the navigation line (href None: the current page)."""
    nav = " / ".join(f'<a href="{esc(href)}">{esc(label)}</a>' if href else f"<span>{esc(label)}</span>"
                     for label, href in crumbs)
    scripts = (f'<script src="{root}assets/plotly.min.js"></script>\n' if charts else "") + \
        f'<script src="{root}assets/board.js"></script>'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<link rel="stylesheet" href="{root}assets/board.css">
{scripts}
</head>
<body>
<header><nav class="crumbs">{nav}</nav><h1>{esc(title)}</h1></header>
<main>
{body}
</main>
<footer>robustperf leaderboard: a static site written by <code>robustperf board</code>; it fetches nothing.</footer>
</body>
</html>
"""


def key_values(pairs: Iterable[tuple], caption: Optional[str] = None) -> str:
    """A two-column table of ``(key, value)`` pairs, both escaped."""
    rows = "".join(f"<tr><th scope=\"row\">{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<table class="kv">{cap}<tbody>{rows}</tbody></table>'


def flatten(data: Any, prefix: str = "") -> list:
    """``(dotted key, value)`` pairs of nested mappings; lists and other values as their JSON text."""
    if isinstance(data, dict):
        out = []
        for key, value in data.items():
            out.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(data, (list, tuple)):
        return [(prefix, json.dumps(data, ensure_ascii=False, default=str))]
    return [(prefix, data)]

"""``robustperf zoo cost [NAME...] [--cards DIR] [--device-record RESULT_JSON] [--json] [-o ESTIMATES.json]``:
the training compute of published models, estimated from their training cards.

For each card (the shipped ``recipes/zoo_cards/``, then each ``--cards`` folder, whose card of the same model
replaces the shipped one; NAME picks models) the suite's own FLOP accounting gives the training FLOPs, low and
high (:mod:`benchmarks.zoo.estimate`); with ``--device-record`` (a ``result.json`` of a run of this suite on the
device to price) also device-hours, kWh, $ and CO2 at that run's measured throughput and power. Every figure is
labelled ``estimated-from-card``. ``-o`` writes the estimates as JSON (atomically) for ``robustperf board
--zoo`` and ``make trends``; ``--json`` prints them. Exit 2 for a card, record or name the command cannot use.

The model's forward FLOPs per image come from the zoo table (``benchmarks/zoo/zoo_models.csv``: the model itself
built by RobustBench's code and counted as ``robustperf profile`` counts; basis ``built``) where it has been
counted, else from the architecture look-up of ``make trends`` (``scaling/mappings/robustbench_archs.csv``, the
architecture named by the card built with the suite's builders; basis ``by-name``); each estimate says which.
"""
from __future__ import annotations

import csv
import json
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

HELP = "training compute, time, energy, $ and CO2 of published models, estimated from their training cards"
FORMAT = "robustperf-zoo-estimates/1"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARCHS = os.path.join(ROOT, "scaling", "mappings", "robustbench_archs.csv")


def add_arguments(parser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="models to estimate (default: every card)")
    parser.add_argument("--cards", action="append", default=[], metavar="DIR",
                        help="a folder of your own training cards (*.yaml); repeatable")
    parser.add_argument("--device-record", metavar="RESULT_JSON",
                        help="a result.json of a run of this suite on the device to price (its measured throughput "
                             "and power)")
    parser.add_argument("--json", action="store_true", help="print the estimates as JSON")
    parser.add_argument("-o", "--output", metavar="ESTIMATES.json", help="write the estimates as JSON")


def forward_flops(card, archs: str = ARCHS, table: Optional[str] = None) -> Tuple[Optional[float], str, str]:
    """(forward FLOPs of one image, basis, where from) of a card's model: the zoo table's count of the model
    built by RobustBench's code (basis ``built``) where counted, else the architecture look-up by the card's
    architecture name (``by-name``); (None, ``unknown``, why) if neither has it."""
    from .table import TABLE, read_table

    table = table or TABLE
    for row in read_table(table, dataset=card.dataset, threat=card.threat):
        if row["name"] == card.model and row.get("status") == "profiled" and row.get("forward_flops"):
            return (float(row["forward_flops"]), "built",
                    f"built: {os.path.relpath(table) if table != TABLE else 'benchmarks/zoo/zoo_models.csv'} "
                    f"(the model built by robustbench's code, one {row.get('input') or 'image'} image counted as "
                    "robustperf profile counts)")
    with open(archs, encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        for row in rows:
            if row["architecture"] == card.architecture and row.get("forward_flops"):
                return (float(row["forward_flops"]), "by-name",
                        f"by-name: scaling/mappings/robustbench_archs.csv ({card.architecture}): {row['note']}")
    return None, "unknown", (f"not counted in the zoo table and no forward FLOPs for architecture "
                             f"{card.architecture!r} in scaling/mappings/robustbench_archs.csv")


def estimates(names: List[str], folders: List[str], device_record: Optional[str]) -> List[Dict[str, Any]]:
    from recipes.cards import BENCHMARKS, CardError, load_cards
    from results.record import read_record

    from .estimate import device_from_record, estimate

    cards = load_cards(folders)
    known = {c.model for c in cards}
    for name in names:
        if name not in known:
            from robustperf_errors import nearest

            near = nearest(name, known)
            raise CardError("no training card for this model" + (f" (did you mean {near!r}?)" if near else "")
                            + "; add one with --cards DIR", key="NAME", value=name)
    device = device_from_record(read_record(device_record), device_record) if device_record else None
    out = []
    for card in cards:
        if names and card.model not in names:
            continue
        flops, flops_basis, source = forward_flops(card)
        if flops is None:  # listed, not guessed
            entry = {"basis": "estimated-from-card", "model": card.model, "card": card.file, "method": card.method,
                     "architecture": card.architecture, "dataset": card.dataset, "threat": card.threat,
                     "paper": card.paper, "train_flops": None, "unknown": source}
        else:
            entry = estimate(card, flops, source, device)
        entry["forward_flops_basis"] = flops_basis
        if os.path.isabs(entry["card"]) and entry["card"].startswith(ROOT + os.sep):  # a shipped card: portable
            entry["card"] = os.path.relpath(entry["card"], ROOT)
        entry["benchmark"] = BENCHMARKS.get((card.dataset, card.threat))
        out.append(entry)
    return out


def _fmt(r: Optional[Dict[str, float]], scale: float = 1.0, digits: int = 3) -> str:
    if not r:
        return "-"
    low, high = r["low"] / scale, r["high"] / scale
    return f"{low:.{digits}g}" if low == high else f"{low:.{digits}g}-{high:.{digits}g}"


def main(args) -> int:
    rows = estimates(list(args.names), list(args.cards), args.device_record)
    doc = {"format": FORMAT, "basis": "estimated-from-card", "estimates": rows}
    if args.output:
        from results.io import atomic_write_text

        atomic_write_text(args.output, json.dumps(doc, indent=1, sort_keys=True) + "\n")
    if args.json:
        print(json.dumps(doc, indent=1, sort_keys=True))
        return 0
    print("estimated-from-card: training compute of published models from their training cards "
          "(the suite's FLOP accounting)")
    if rows and rows[0].get("device"):
        d = rows[0]["device"]
        print(f"device {d['name']}: {d['flops_per_second'] / 1e12:.3g} TFLOP/s (train_total accounting) from "
              f"{d['source']}; power {d['watts'] and round(d['watts'], 1)} W, {d['watts_source']}")
    print(f"{'model':40s} {'method':8s} {'F/image':>8s} {'PFLOP':>17s} {'device-h':>15s} {'kWh':>15s} {'$ cloud':>17s} "
          f"{'kg CO2':>15s}")
    for r in rows:
        if r.get("unknown"):
            print(f"{r['model']:40s} {r['method']:8s} unknown: {r['unknown']}")
            continue
        print(f"{r['model']:40s} {r['method']:8s} {r['forward_flops_basis']:>8s} {_fmt(r['train_flops'], 1e15):>17s} "
              f"{_fmt(r.get('device_hours')):>15s} {_fmt(r.get('kwh')):>15s} {_fmt(r.get('cloud_usd')):>17s} "
              f"{_fmt(r.get('co2_kg')):>15s}")
    print(f"{len(rows)} card{'s' if len(rows) != 1 else ''}; ranges: what the cards leave open; F/image: the forward "
          "FLOPs per image of the model built (zoo table) or of its architecture by name", file=sys.stderr)
    return 0

"""The RobustBench architecture lookup is regenerable: building a model again gives the shipped row."""
from __future__ import annotations

import csv

from benchmarks.robustbench_archs import build_rows, model_for, write_lookup
from tests.conftest import ROOT

LOOKUP = ROOT / "scaling" / "mappings" / "robustbench_archs.csv"


def _shipped():
    with open(LOOKUP, encoding="utf-8") as fh:
        return {r["architecture"]: r for r in csv.DictReader(line for line in fh if not line.startswith("#"))}


def test_names_map_to_buildable_models():
    assert model_for("WideResNet-70-16") == "wrn-70-16" and model_for(" WideResNet-34-10 ") == "wrn-34-10"
    assert model_for("MeanSparse WideResNet-94-16") is None and model_for("WideResNet-28-10-PSSiLU") is None


def test_rebuilding_gives_the_shipped_rows_and_lists_unknowns(tmp_path):
    rows = build_rows(["WideResNet-28-10", "MeanSparse WideResNet-94-16"])
    by_arch = {r["architecture"]: r for r in rows}
    wrn = by_arch["WideResNet-28-10"]
    assert wrn["status"] == "profiled" and int(wrn["params"]) == 36_479_194
    assert abs(int(wrn["forward_flops"]) - 10.5e9) < 0.01 * 10.5e9
    shipped = _shipped()
    assert (wrn["params"], wrn["forward_flops"]) == (shipped["WideResNet-28-10"]["params"],
                                                     shipped["WideResNet-28-10"]["forward_flops"])
    unknown = by_arch["MeanSparse WideResNet-94-16"]
    assert unknown["status"] == "unknown" and unknown["params"] == "" and "no builder" in unknown["note"]
    out = tmp_path / "lookup.csv"
    write_lookup(rows, str(out), "table.csv")
    text = out.read_text()
    assert text.startswith("# RobustBench architecture") and "WideResNet-28-10,wrn-28-10,36479194," in text

"""Another package adds an analysis section through a ``robustperf.sections`` entry point: one module with the
section, one entry, one entry-point line. Its broken siblings are reported in one line each and skipped; the
analysis runs. (The package is put on ``sys.path`` with its ``.dist-info``, as pip would leave it.)"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

from .conftest import PUBLISHED, PUBLISHED_ARGS

PACKAGE = "robustperf_slope_section"

SECTION = '''
import numpy as np

from scaling.sections import Section


class LossSlope(Section):
    """The slope of the training loss against log10 FLOPs."""

    title = "Training loss against FLOPs"
    needs = ("envelope",)

    def columns(self, ctx):
        return ["train_loss"]

    def fit(self, ctx):
        loss = ctx.numeric("train_loss", "loss", frame=ctx.frame).to_numpy()
        ok = np.isfinite(loss)
        return float(np.polyfit(np.log10(ctx.x[ok]), loss[ok], 1)[0])

    def summary(self, slope, ctx):
        return {"slope": slope}

    def markdown(self, part, report):
        return [f"## {self.title}", "", f"slope {part['slope']:.4f}", ""]
'''

CATALOG = f'''
from recipes.catalog import SectionEntry

LOSS_SLOPE = SectionEntry(name="loss_slope", impl="{PACKAGE}.section:LossSlope", doc="loss against FLOPs",
                          order=820)
NO_CODE = SectionEntry(name="no_code", impl="{PACKAGE}.missing:Gone", doc="its module is missing", order=830)
'''

ENTRY_POINTS = f'''
[robustperf.sections]
loss_slope = {PACKAGE}.catalog:LOSS_SLOPE
no_code = {PACKAGE}.catalog:NO_CODE
no_entry = {PACKAGE}.nowhere:ENTRY
'''


def _install(root) -> None:
    package = root / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "section.py").write_text(textwrap.dedent(SECTION))
    (package / "catalog.py").write_text(textwrap.dedent(CATALOG))
    info = root / f"{PACKAGE}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))


def test_a_section_of_another_package_runs_and_its_broken_siblings_are_skipped(tmp_path):
    _install(tmp_path)
    out = tmp_path / "out"
    code = ("import sys, robustperf; sys.exit(robustperf.main(['analyze', %r, '-o', %r, *%r, '--no-figures', "
            "'--bootstrap', '10']))" % (str(PUBLISHED), str(out), PUBLISHED_ARGS))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    order = report["sections"]
    assert order.index("repeats") < order.index("loss_slope")  # order 820
    assert math.isfinite(report["loss_slope"]["slope"])
    assert "## Training loss against FLOPs" in (out / "report.md").read_text()
    # the entry point that cannot be read: one warning line naming the package, from the catalog
    warned = [line for line in proc.stderr.splitlines() if "no_entry" in line]
    assert len(warned) == 1 and f"of package {PACKAGE} 0.1" in warned[0] and "skipped" in warned[0], proc.stderr
    # the entry whose code cannot be imported: one line of analyze, naming the package
    skipped = [line for line in proc.stdout.splitlines() if line.startswith("skipped section no_code")]
    assert len(skipped) == 1 and f"(package {PACKAGE} 0.1): cannot import" in skipped[0], proc.stdout
    assert "no_code" in report["skipped_sections"] and "no_entry" not in report

"""An out-of-tree package adds a training method (with a recipe key of its own) and an analysis section, installed
with pip from a folder built by the test, and both run through ``robustperf expand``, ``run`` and ``analyze`` - no
file of the suite is edited. The built-ins are found the same way (entry points), so this is their path too."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

PACKAGE = "robustperf_mix"

METHOD = '''
"""``mix``: cross-entropy on the clean and the PGD batch, weighted by ``training.mix_weight`` (Goodfellow et al.
2015, https://arxiv.org/abs/1412.6572)."""
import torch.nn.functional as F

from benchmarks.training.methods.base import Method


class Mix(Method):
    def train_passes(self):
        return 2

    def loss(self, model, x, y, x_adv):
        w = self.cfg.training.mix_weight
        clean = self.forward(model, x)
        adv = self.forward(model, x_adv)
        return (1 - w) * F.cross_entropy(clean, y) + w * F.cross_entropy(adv, y), adv.detach()
'''

SECTION = '''
from scaling.sections import Section, SkipSection


class MixTable(Section):
    """Clean and AutoAttack accuracy by mix weight."""

    title = "Accuracy by mix weight"

    def columns(self, ctx):
        return ["config.training.mix_weight", "accuracy.clean"]

    def fit(self, ctx):
        rows = ctx.table.dropna(subset=["config.training.mix_weight"])
        if rows.empty:
            raise SkipSection("no run of the mix method")
        return {str(w): float(g["accuracy.clean"].mean()) for w, g in rows.groupby("config.training.mix_weight")}

    def summary(self, fitted, ctx):
        return {"clean_accuracy_by_weight": fitted}

    def markdown(self, part, report):
        return [f"## {self.title}", ""] + [f"- {w}: {a:.1f} %" for w, a in part["clean_accuracy_by_weight"].items()]
'''

CATALOG = f'''
from recipes.catalog import Key, MethodEntry, SectionEntry

MIX = MethodEntry(name="mix", impl="{PACKAGE}.method:Mix", doc="clean and PGD cross-entropy, weighted",
                  reads=("attack.steps", "attack.step_size", "attack.random_start"), name_part="mix{{attack.steps}}",
                  train_attack="pgd", keys={{"training.mix_weight": Key(0.5, "weight of the adversarial loss",
                                                                       min=0.0, max=1.0)}})
MIX_TABLE = SectionEntry(name="mix_table", impl="{PACKAGE}.section:MixTable", doc="accuracy by mix weight",
                         order=900)
'''

SETUP_CFG = f'''
[metadata]
name = {PACKAGE}
version = 0.3

[options]
packages = {PACKAGE}

[options.entry_points]
robustperf.methods =
    mix = {PACKAGE}.catalog:MIX
robustperf.sections =
    mix_table = {PACKAGE}.catalog:MIX_TABLE
'''

RECIPE = '''
name: mix-digits
base:
  data: {name: digits, batch_size: 128}
  model: {arch: wrn, depth: 10, width: 1}
  training: {loss: mix, warmup_epochs: 0, select_subset: 32, select_pgd_steps: 2}
  attack: {eps: 0.1, steps: 2}
  evaluation: {pgd_steps: 2, autoattack: [apgd-ce], autoattack_n: 32}
grid:                      # three training budgets, so the envelope law has points to fit
  training:
    - {mix_weight: 0.0, epochs: 1}
    - {mix_weight: 0.5, epochs: 2}
    - {mix_weight: 1.0, epochs: 3}
'''


def _install(tmp_path):
    src = tmp_path / "src"
    pkg = src / PACKAGE
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "method.py").write_text(METHOD)
    (pkg / "section.py").write_text(SECTION)
    (pkg / "catalog.py").write_text(CATALOG)
    (src / "setup.cfg").write_text(SETUP_CFG)
    (src / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools>=64"]\n'
                                        'build-backend = "setuptools.build_meta"\n')
    site = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(site), str(src)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert (site / f"{PACKAGE}-0.3.dist-info" / "entry_points.txt").exists()
    return site


def _robustperf(env, *args, cwd):
    return subprocess.run([sys.executable, "-m", "robustperf", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_pip_installed_package_adds_a_method_and_a_section_that_run_end_to_end(tmp_path):
    site = _install(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    recipe = tmp_path / "mix.yaml"
    recipe.write_text(RECIPE)
    listed = json.loads(_robustperf(env, "plugins", "--json", cwd=tmp_path).stdout)
    mine = {(p["kind"], p["name"]): p for p in listed["plugins"] if p["source"].startswith(PACKAGE)}
    assert set(mine) == {("methods", "mix"), ("sections", "mix_table")} and listed["problems"] == []

    expanded = _robustperf(env, "expand", str(recipe), cwd=tmp_path)
    assert expanded.returncode == 0, expanded.stderr
    runs = [json.loads(line) for line in expanded.stdout.splitlines()]
    assert [r["config"]["training"]["mix_weight"] for r in runs] == [0.0, 0.5, 1.0]
    assert all(f"_mix_mix2_e{i + 1}_" in r["name"] for i, r in enumerate(runs))
    # its own key is in its runs' ids, and only in theirs
    same = _robustperf(env, "expand", str(recipe), "--set", "training.mix_weight=0.25", cwd=tmp_path)
    assert len({json.loads(line)["run_id"] for line in same.stdout.splitlines()} | {r["run_id"] for r in runs}) == 6
    at = [_robustperf(env, "expand", str(recipe), "--set", "training.loss=at", "--set", f"training.mix_weight={w}",
                      cwd=tmp_path).stdout for w in (0.25, 0.75)]
    assert at[0] == at[1].replace("0.75", "0.25") and json.loads(at[0].splitlines()[0])["run_id"] == \
        json.loads(at[1].splitlines()[0])["run_id"]
    bad = _robustperf(env, "expand", str(recipe), "--set", "training.mix_weight=2", cwd=tmp_path)
    assert bad.returncode == 2 and "training.mix_weight" in bad.stderr and "Traceback" not in bad.stderr

    results = tmp_path / "runs"
    for index in range(len(runs)):
        run = _robustperf(env, "run", str(recipe), "--index", str(index), "--results", str(results), cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
        record = json.loads((results / runs[index]["run_id"] / "result.json").read_text())
        assert record["status"] == "completed" and record["method"]["name"] == "mix"
        assert record["method"]["forward_passes_per_sample"]["train"] == 2

    out = tmp_path / "analysis"
    analyzed = _robustperf(env, "analyze", str(results), "-o", str(out), "--no-figures", "--acc-col",
                           "accuracy.clean", cwd=tmp_path)
    assert analyzed.returncode == 0, analyzed.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert set(report["mix_table"]["clean_accuracy_by_weight"]) == {"0.0", "0.5", "1.0"}
    assert "Accuracy by mix weight" in (out / "report.md").read_text()

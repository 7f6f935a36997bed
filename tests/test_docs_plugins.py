"""The plug-in guides cannot drift: each guide of docs/how-to/plugins/ holds a whole example package, one fenced
block per file (```` ```python title="robustperf_mix/method.py" ````); these tests build every package from its
page, install them with pip into one folder, and run robustperf with them on ``PYTHONPATH``, as a user would.

Fast: each package installs, ``robustperf plugins`` lists exactly its entries and their code loads; each guide's
own example does what the page says (the method's key and ids, the section on the published table, the attack
on a model, the dataset on a file in SVHN's format, the meter on a stand-in ``ipmitool``, the executor launching
a matrix). Slow: the method's recipe trains and is analysed; one run uses the family, the attack, the dataset and
the meter of the guides together.
"""
from __future__ import annotations

import configparser
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
from typing import Dict, List

import pytest

from tests.conftest import ROOT

GUIDES = ROOT / "docs" / "how-to" / "plugins"
#: a fenced block that is a file of the guide's package; the title is its path in the package's folder
FILE_BLOCK = re.compile(r'^```[a-z]*[ \t]+title="([^"]+)"[ \t]*\n(.*?)^```[ \t]*$', re.MULTILINE | re.DOTALL)
#: the guides with a package, and the distribution each builds
PACKAGES = {"method.md": "robustperf-mix", "analysis-section.md": "robustperf-robustcost",
            "model-family.md": "robustperf-twoexit", "attack.md": "robustperf-margin",
            "dataset.md": "robustperf-svhn", "energy-meter.md": "robustperf-ipmi",
            "executor.md": "robustperf-background"}
#: a stand-in for ipmitool (the energy meter's guide): a BMC drawing 245 W
FAKE_IPMITOOL = "#!/bin/sh\necho '    Instantaneous power reading:                   245 Watts'\n"


def package_files(page: str) -> Dict[str, str]:
    """``{path: text}`` of every file block of a guide."""
    text = (GUIDES / page).read_text(encoding="utf-8")
    return {path: body for path, body in FILE_BLOCK.findall(text)}


def entry_points(page: str) -> Dict[str, List[str]]:
    """``{group: [names]}`` of the ``robustperf.*`` entry points the guide's setup.cfg declares."""
    cfg = configparser.ConfigParser()
    cfg.read_string(package_files(page)["setup.cfg"])
    return {group: [line.split("=")[0].strip() for line in value.strip().splitlines()]
            for group, value in cfg["options.entry_points"].items() if group.startswith("robustperf.")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Every guide's package, built from its page and installed into one folder: ``(env, folder)``."""
    base = tmp_path_factory.mktemp("guides")
    sources = []
    for page in PACKAGES:
        src = base / "src" / page.replace(".md", "")
        for path, body in package_files(page).items():
            (src / path).parent.mkdir(parents=True, exist_ok=True)
            (src / path).write_text(body, encoding="utf-8")
        sources.append(str(src))
    site = base / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(site), *sources], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    bin_dir = base / "bin"
    bin_dir.mkdir()
    (bin_dir / "ipmitool").write_text(FAKE_IPMITOOL)
    (bin_dir / "ipmitool").chmod(0o755)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "Agg", "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])}
    return env, base


def robustperf(env, *args, cwd=ROOT, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robustperf", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def python(env, code: str, cwd=ROOT) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def expand(env, recipe, *sets) -> List[dict]:
    proc = robustperf(env, "expand", str(recipe), *[a for s in sets for a in ("--set", s)])
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_every_guide_with_code_is_a_package():
    pages = sorted(p.name for p in GUIDES.glob("*.md") if package_files(p.name))
    assert pages == sorted(PACKAGES)
    for page, dist in PACKAGES.items():
        files = package_files(page)
        assert {"setup.cfg", "pyproject.toml"} <= set(files) and entry_points(page), page
        assert f"name = {dist}" in files["setup.cfg"], page


@pytest.mark.parametrize("page", sorted(PACKAGES))
def test_a_guide_package_registers_its_plugins_and_their_code_loads(installed, page):
    env, _ = installed
    listed = robustperf(env, "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert found["problems"] == []
    dist = PACKAGES[page]
    mine = sorted((p["kind"], p["name"]) for p in found["plugins"] if p["source"].split(" ")[0] == dist)
    declared = sorted((group.split(".", 1)[1], name) for group, names in entry_points(page).items() for name in names)
    assert mine == declared
    python(env, f"""
        from recipes import catalog
        for kind, name in {declared!r}:
            assert catalog.load(kind, name) is not None
        """)


def test_the_method_guide_adds_a_method_whose_own_key_enters_its_ids(installed):
    env, base = installed
    recipe = base / "src" / "method" / "mix-digits.yaml"
    runs = expand(env, recipe)
    assert [r["config"]["training"]["mix_weight"] for r in runs] == [0.5, 0.75, 1.0]
    assert [r["name"] for r in runs] == [f"wrn-10-1_relu_mix_mix2_e{e}_syn0_s0" for e in (1, 2, 3)]
    other = expand(env, recipe, "training.mix_weight=0.25")
    assert {r["run_id"] for r in runs}.isdisjoint(r["run_id"] for r in other)
    at = [expand(env, recipe, "training.loss=at", f"training.mix_weight={w}")[0]["run_id"] for w in (0.25, 0.75)]
    assert at[0] == at[1]
    bad = robustperf(env, "expand", str(recipe), "--set", "training.mix_weight=2")
    assert bad.returncode == 2 and "must be <= 1.0" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow  # installs the guide's package and analyses the published table (~12 s)
def test_the_section_guide_analyses_the_published_table(installed, tmp_path):
    env, _ = installed
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text((ROOT / "scaling" / "mappings" / "timm-adv-training.yaml").read_text()
                       + "sections:\n  robust_cost: {min_accuracy: 5}\n")
    out = tmp_path / "paper"
    proc = robustperf(env, "analyze", "tests/data/timm_adv_training_results.csv", "--mapping", str(mapping),
                      "-o", str(out), "--bootstrap", "20")
    assert proc.returncode == 0, proc.stderr[-3000:]
    part = json.loads((out / "report.json").read_text())["robust_cost"]
    assert part["runs"] > 100 and part["min_accuracy"] == 5 and 0 < part["envelope_median_usd_per_point"] < 1
    assert "robust_cost: median $" in proc.stdout and (out / "robust_cost.png").is_file()
    assert "## Electricity per point of robust accuracy" in (out / "report.md").read_text()
    mapping.write_text("sections:\n  robust_cost: {max_accuracy: 5}\n")
    bad = robustperf(env, "analyze", "tests/data/timm_adv_training_results.csv", "--mapping", str(mapping),
                     "-o", str(out))
    assert bad.returncode == 2 and "valid keys: min_accuracy" in bad.stderr


def test_the_model_family_guide_builds_a_two_exit_network(installed, tiny_recipe):
    env, _ = installed
    runs = expand(env, tiny_recipe, "model.arch=two_exit", "model.width=2")
    assert runs[0]["name"] == "two_exit-2_relu_at_pgd2_e2_syn0_s0"
    assert [r["run_id"] for r in expand(env, tiny_recipe, "model.arch=two_exit", "model.width=2",
                                        "model.depth=16")] == [r["run_id"] for r in runs]
    out = python(env, """
        import torch
        from benchmarks.models import create_model
        from recipes import ModelConfig
        model = create_model(ModelConfig(arch="two_exit", width=2), num_classes=10, in_chans=1)
        print(len(model(torch.rand(4, 1, 8, 8))))
        """)
    assert out.strip() == "2"


def test_the_attack_guide_attacks_within_its_budget_and_is_a_recipe_choice(installed, tiny_recipe):
    env, _ = installed
    out = python(env, """
        import torch
        from benchmarks.attacks import create_attack
        from robustperf_margin.attack import margin
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
        x, y = torch.rand(32, 1, 8, 8), torch.randint(0, 10, (32,))
        attack = create_attack("pgd_margin", model, norm="linf", eps=0.1, steps=5, step_size=0.03)
        x_adv = attack(x, y, generator=torch.Generator().manual_seed(0))
        assert (x_adv - x).abs().max() <= 0.1 + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
        assert margin(model(x_adv), y).mean() > margin(model(x), y).mean()
        try:
            create_attack("pgd_margin", model, norm="l1", eps=0.1, steps=5, step_size=0.03)
        except ValueError as err:
            print(err)
        """)
    assert "does not support the norm 'l1'" in out
    base = expand(env, tiny_recipe)
    chosen = expand(env, tiny_recipe, "training.select_attack=pgd_margin", "evaluation.attack=pgd_margin")
    assert chosen[0]["config"]["evaluation"]["attack"] == "pgd_margin"
    assert expand(env, tiny_recipe, "evaluation.attack=pgd_margin")[0]["run_id"] == base[0]["run_id"]
    assert chosen[0]["run_id"] != base[0]["run_id"]  # the check attack picks `best`: another training
    typo = robustperf(env, "expand", str(tiny_recipe), "--set", "evaluation.attack=pgd_marjin")
    assert typo.returncode == 2 and "did you mean 'pgd_margin'?" in typo.stderr


def _svhn_files(folder: pathlib.Path, train: int = 256, test: int = 64) -> pathlib.Path:
    """Random images and labels in SVHN's .mat layout (32x32x3xN uint8, labels 1..10)."""
    import numpy as np
    import scipy.io

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    for split, n in (("train", train), ("test", test)):
        scipy.io.savemat(str(folder / f"{split}_32x32.mat"),
                         {"X": rng.randint(0, 256, (32, 32, 3, n)).astype(np.uint8),
                          "y": rng.randint(1, 11, (n, 1)).astype(np.uint8)})
    return folder


def test_the_dataset_guide_reads_svhn_files(installed, tiny_recipe, tmp_path):
    env, _ = installed
    root = _svhn_files(tmp_path / "svhn")
    out = python(env, f"""
        from benchmarks.datasets import DataError, dataset_info, load_dataset
        x, y = load_dataset("svhn", "test", {str(root)!r})
        assert tuple(x.shape) == (64, 3, 32, 32) and 0 <= x.min() and x.max() <= 1
        assert 0 <= int(y.min()) and int(y.max()) <= 9
        assert dataset_info("svhn").num_classes == 10
        try:
            load_dataset("svhn", "test", {str(tmp_path / "nowhere")!r})
        except DataError as err:
            print(err)
        """)
    assert "put test_32x32.mat from http://ufldl.stanford.edu/housenumbers/ in data.root" in out
    missing = robustperf(env, "expand", str(tiny_recipe), "--set", "data.name=svhn")
    assert missing.returncode == 2 and "dataset svhn needs data.root" in missing.stderr
    assert expand(env, tiny_recipe, "data.name=svhn", f"data.root={root}")[0]["run_id"] == \
        expand(env, tiny_recipe, "data.name=svhn", "data.root=/elsewhere")[0]["run_id"]


def test_the_energy_meter_guide_meters_the_node(installed):
    env, _ = installed
    out = python(env, """
        import json, time
        from benchmarks.measurement import EnergyMeter, EnergyUnavailable
        from recipes import MeasurementConfig
        with EnergyMeter(MeasurementConfig(energy_source="ipmi", sample_hz=20), []) as meter:
            with meter.window("train"):
                time.sleep(0.5)
        print(json.dumps(meter.totals()["windows"]["train"]))
        """)
    train = json.loads(out)
    assert train["source"] == "ipmi" and train["mean_power_w"] == pytest.approx(245, rel=0.05)
    assert train["kinds_j"] == {"host": pytest.approx(train["energy_j"])}  # the guide's kind, not a GPU's
    no_bmc = {**env, "PATH": os.defpath}
    proc = subprocess.run([sys.executable, "-c", "from benchmarks.measurement import EnergyMeter\n"
                           "from recipes import MeasurementConfig\n"
                           "EnergyMeter(MeasurementConfig(energy_source='ipmi'), []).start()"],
                          cwd=ROOT, env=no_bmc, capture_output=True, text=True, timeout=300)
    assert "cannot measure here: ipmitool is not installed" in proc.stderr


def test_the_executor_guide_launches_a_matrix_in_the_background(installed, tiny_recipe, tmp_path):
    env, _ = installed
    dry = robustperf(env, "launch", str(tiny_recipe), "--scheduler", "background", "--dry-run", "--results",
                     str(tmp_path / "dry"))
    assert dry.returncode == 0 and "# tasks=2" in dry.stdout and "runner.sh" in dry.stdout, dry.stderr
    record = tmp_path / "calls.jsonl"
    task = tmp_path / "task.py"  # stands in for the interpreter of each task: records what it was asked to run
    task.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                    f"from launchers.backends import job_environment\n"
                    f"open({str(record)!r}, 'a').write(json.dumps({{'argv': sys.argv[1:], "
                    f"'job': job_environment(os.environ)}}) + '\\n')\n")
    task.chmod(0o755)
    out = python(env, f"""
        import time
        from launchers.launch import launch
        from recipes import load_recipe
        from robustperf_background.executor import BackgroundExecutor
        result = launch(load_recipe({str(tiny_recipe)!r}), scheduler="background",
                        results_dir={str(tmp_path / "runs")!r}, python={str(task)!r})
        (job,) = result.jobs
        for _ in range(600):
            if not BackgroundExecutor.alive_jobs([job.job_id]):
                break
            time.sleep(0.1)
        print(job.job_id)
        """)
    job_id = out.strip()
    calls = sorted((json.loads(line) for line in record.read_text().splitlines()),
                   key=lambda c: c["job"]["array_task_id"])
    assert [c["argv"][c["argv"].index("--index") + 1] for c in calls] == ["0", "1"]
    assert [c["job"] for c in calls] == [{"scheduler": "background", "job_id": f"{job_id}.{k}",
                                          "array_job_id": job_id, "array_task_id": str(k)} for k in (0, 1)]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_method_guide_trains_and_is_analysed(installed, tmp_path):
    env, base = installed
    recipe = base / "src" / "method" / "mix-digits.yaml"
    results = tmp_path / "runs"
    for index, run in enumerate(expand(env, recipe)):
        proc = robustperf(env, "run", str(recipe), "--index", str(index), "--results", str(results))
        assert proc.returncode == 0, proc.stderr[-3000:]
        method = json.loads((results / run["run_id"] / "result.json").read_text())["method"]
        assert method == {"name": "mix", "params": {"mix_weight": run["config"]["training"]["mix_weight"]},
                          "train_attack": "pgd", "forward_passes_per_sample": {"attack": 2, "train": 2}}
    proc = robustperf(env, "analyze", str(results), "-o", str(tmp_path / "report"), "--no-figures")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["envelope"]["n_points"] >= 3 and "robust_cost" in report


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_guides_family_attack_dataset_and_meter_run_together(installed, tiny_recipe, tmp_path):
    env, _ = installed
    root = _svhn_files(tmp_path / "svhn")
    sets = ["data.name=svhn", f"data.root={root}", "model.arch=two_exit", "model.width=2", "training.epochs=1",
            "training.select_attack=pgd_margin", "evaluation.attack=pgd_margin", "evaluation.autoattack=[apgd-ce]",
            "measurement.energy_source=ipmi", "measurement.sample_hz=5"]
    (run,) = expand(env, tiny_recipe, *sets)[:1]
    proc = robustperf(env, "run", str(tiny_recipe), "--index", "0", "--results", str(tmp_path / "runs"),
                      *[a for s in sets for a in ("--set", s)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "runs" / run["run_id"] / "result.json").read_text())
    assert record["status"] == "completed" and record["energy"]["source"] == "ipmi"
    assert record["energy"]["mean_power_w"] == pytest.approx(245, rel=0.05)
    assert record["accuracy"]["pgd"] is not None and record["config"]["evaluation"]["attack"] == "pgd_margin"

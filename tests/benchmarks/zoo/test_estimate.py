"""The training-cost estimate of a card (benchmarks/zoo/estimate.py): the suite's own FLOP accounting applied to
a card gives a trained run's ``flops.train_total`` back, and one card's estimate equals its hand computation."""
import json
import os

import pytest
import yaml

from recipes.cards import card_from_dict, load_card, CARDS_DIR
from tests.benchmarks._training_helpers import run_cli
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)


def _card(model, method, epochs, steps, batch, images, awp=False, warmup=None, file="card.yaml"):
    training = {"method": {"value": method, "source": "s"}, "epochs": {"value": epochs, "source": "s"},
                "attack_steps": {"value": steps, "source": "s"}, "batch_size": {"value": batch, "source": "s"},
                "images_per_epoch": {"value": images, "source": "s"}, "ema": {"value": False, "source": "s"},
                "awp": {"value": awp, "source": "s"}, "pretraining": {"value": "none", "source": "s"}}
    if warmup is not None:
        training["awp_warmup_epochs"] = {"value": warmup, "source": "s"}
    return {"model": model, "dataset": "cifar10", "threat": "Linf", "architecture": "wrn", "paper": "p",
            "training": training}


@pytest.mark.slow  # trains a run (~17 s)
def test_the_card_written_from_a_trained_runs_recipe_gives_its_train_total_within_one_percent(cached_run, tmp_path):
    """TRADES with AWP from epoch 2 of 2 (two step shapes), trained by `robustperf run` with FLOPs counted."""
    from benchmarks.zoo.estimate import estimate

    results = cached_run(["run", str(ROOT / "recipes" / "tiny-digits.yaml"), "--index", "1", "--results",
                          str(tmp_path / "res"), "--no-eval", "--no-progress", "--set", "training.epochs=2",
                          "--set", "training.awp_gamma=0.01", "--set", "training.awp_warmup=1",
                          "--set", "training.select_subset=64"])
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    record = json.loads((folder / "result.json").read_text())
    config, flops = record["config"], record["flops"]
    assert record["method"]["name"] == "trades" and flops["source"] == "deepspeed"
    epochs = config["training"]["epochs"]
    card = card_from_dict(_card("tiny", config["training"]["loss"], epochs, config["attack"]["steps"],
                                config["data"]["batch_size"], flops["train_samples"] / epochs, awp=True,
                                warmup=config["training"]["awp_warmup"]))
    got = estimate(card, flops["forward_per_sample"], "the record's flops.forward_per_sample")
    assert got["basis"] == "estimated-from-card" and got["train_flops"]["low"] == got["train_flops"]["high"]
    assert got["train_flops"]["low"] == pytest.approx(flops["train_total"], rel=0.01)


def test_an_estimate_equals_its_hand_computation(tmp_path):
    """Wu2020Adversarial (TRADES-AWP) at a device measured by a record (written here), by hand."""
    from benchmarks.zoo.estimate import device_from_record, estimate
    from recipes import DEFAULT_CLOUD_PRICES

    card = load_card(f"{CARDS_DIR}/Wu2020Adversarial.yaml")
    F = 13326504448.0  # forward FLOPs of one image through WRN-34-10 (scaling/mappings/robustbench_archs.csv)
    # TRADES, 10 steps: attack passes 10 + 1 (the KL target's clean forward), train passes 2 (clean and
    # adversarial halves) = 13 per image; with AWP one more loss pass, x2 train: 11 + 4 = 15.
    # epochs 200, images 50,000; AWP after a warm-up of 9 epochs (the authors' code): 9 x 13 + 191 x 15 passes.
    low = high = 3 * F * 50_000 * (9 * 13 + 191 * 15)
    record = {"run_id": "r1", "flops": {"train_total": 2.0e15}, "timing": {"train_seconds": 100.0},
              "energy": {"train_j": 2 * 100.0 * 300.0, "devices": 2, "source": "nvml"},
              "hardware": {"count": 2}, "cost": {"device_model": "NVIDIA H100 80GB HBM3"},
              "config": {"measurement": {"pue": 1.5, "usd_per_kwh": 0.2, "kg_co2_per_kwh": 0.4}}}
    # throughput 2e15 FLOPs / (100 s x 2 devices) = 1e13 FLOP/s per device; power 60,000 J / 200 device-s = 300 W
    device = device_from_record(record, str(tmp_path / "result.json"))
    assert (device.flops_per_second, device.watts) == (1e13, 300.0)
    got = estimate(card, F, "test")
    assert got["train_flops"] == {"low": pytest.approx(low, rel=1e-12), "high": pytest.approx(high, rel=1e-12)}
    got = estimate(card, F, "test", device)
    hours = {"low": low / 1e13 / 3600, "high": high / 1e13 / 3600}
    kwh = {k: h * 300.0 / 1000 * 1.5 for k, h in hours.items()}  # device-hours x W / 1000 x PUE
    h100 = DEFAULT_CLOUD_PRICES["H100"]
    assert got["device_hours"] == pytest.approx(hours) and got["kwh"] == pytest.approx(kwh)
    assert got["electricity_usd"] == pytest.approx({k: v * 0.2 for k, v in kwh.items()})
    assert got["co2_kg"] == pytest.approx({k: v * 0.4 for k, v in kwh.items()})
    assert got["cloud_usd"] == pytest.approx({"low": hours["low"] * h100[0], "high": hours["high"] * h100[1]})
    assert got["device"]["source"].endswith("(run r1)") and got["basis"] == "estimated-from-card"


def test_zoo_cost_writes_labelled_estimates_and_a_users_card_replaces_the_shipped_one(tmp_path):
    """`robustperf zoo cost` (a real subprocess): a card of the user's own folder replaces the shipped one;
    every estimate says how it was obtained, from which card."""
    mine = tmp_path / "cards"
    mine.mkdir()
    doc = yaml.safe_load(open(f"{CARDS_DIR}/Wong2020Fast.yaml"))
    doc["training"]["epochs"] = {"range": [15, 30], "source": "mine"}
    (mine / "wong.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path / "est.json"
    done = run_cli(["zoo", "cost", "Wong2020Fast", "Zhang2019Theoretically", "--cards", str(mine), "-o", str(out)])
    assert done.returncode == 0, done.stderr
    rows = {r["model"]: r for r in json.loads(out.read_text())["estimates"]}
    assert set(rows) == {"Wong2020Fast", "Zhang2019Theoretically"}
    wong = rows["Wong2020Fast"]
    assert wong["card"] == str(mine / "wong.yaml") and wong["inputs"]["epochs"]["source"] == "mine"
    assert wong["train_flops"]["high"] == pytest.approx(2 * wong["train_flops"]["low"])
    assert all(r["basis"] == "estimated-from-card" and r["benchmark"] == "cifar10-linf-8" for r in rows.values())
    assert "Wong2020Fast" in done.stdout


@pytest.mark.parametrize("edit, key", [
    (lambda d: d["training"].pop("epochs"), "training.epochs"),
    (lambda d: d["training"].update(epochs={"value": -3, "source": "s"}), "training.epochs"),
    (lambda d: d["training"].update(batch_size={"range": [512, 256], "source": "s"}), "training.batch_size.range"),
    (lambda d: d["training"].update(epochs={"value": 1e12, "source": "s"}), "training.epochs"),
    (lambda d: d["training"].update(ema={"value": "yes", "source": "s"}), "training.ema.value"),
    (lambda d: d["training"].update(epochs={"value": 3}), "training.epochs.source"),
    (lambda d: d["training"].update(ephocs={"value": 3, "source": "s"}), "training.ephocs"),
    (lambda d: d.update(threat="linf"), "threat"),
])
def test_a_broken_card_is_one_line_naming_file_key_and_value(tmp_path, edit, key):
    doc = yaml.safe_load(open(f"{CARDS_DIR}/Wong2020Fast.yaml"))
    edit(doc)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(doc))
    done = run_cli(["zoo", "cost", "--cards", str(tmp_path)])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert str(tmp_path / "bad.yaml") in line and f"key '{key}'" in line, line


def test_a_method_the_suite_does_not_have_is_named():
    from recipes.cards import CardError

    with pytest.raises(CardError, match=r"x.yaml: key 'training.method': .*\(got 'adversarial_magic'\).*trades"):
        card_from_dict(_card("x", "adversarial_magic", 1, 1, 1, 1), "x.yaml")


def test_a_device_record_without_a_measured_training_is_one_line(tmp_path):
    record = json.loads((ROOT / "tests/data/results-1.0/be231187284e/result.json").read_text())
    record["flops"]["train_total"] = None  # a record of a run that was not trained here (or without FLOPs)
    (tmp_path / "result.json").write_text(json.dumps(record))
    done = run_cli(["zoo", "cost", "Wong2020Fast", "--device-record", str(tmp_path / "result.json")])
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert str(tmp_path / "result.json") in line and "key 'flops.train_total'" in line, line


def _zoo_row(name):
    from benchmarks.zoo.table import read_table

    return next(r for r in read_table(dataset="cifar10", threat="Linf") if r["name"] == name)


def test_zoo_cost_takes_the_forward_flops_of_the_model_built_from_the_zoo_table():
    """The card's model counted in the zoo table (built by RobustBench's code): its own count, labelled built,
    not the look-up of its architecture's name (which differs: the suite's WRN-28-10 is not Carmon's)."""
    row = _zoo_row("Carmon2019Unlabeled")
    assert row["status"] == "profiled"
    done = run_cli(["zoo", "cost", "Carmon2019Unlabeled", "--json"])
    assert done.returncode == 0, done.stderr
    est = json.loads(done.stdout)["estimates"][0]
    assert est["forward_flops_basis"] == "built"
    assert est["forward_flops_per_image"]["value"] == float(row["forward_flops"]) != 10493628928.0
    assert est["forward_flops_per_image"]["source"].startswith("built: benchmarks/zoo/zoo_models.csv")
    assert "built" in done.stdout


def test_a_model_not_counted_in_the_zoo_table_falls_back_to_its_architecture_by_name(tmp_path):
    """A zoo table where the card's model is not counted (a real copy of the shipped one, its row reset):
    the architecture look-up, labelled by-name; an architecture neither knows: unknown, listed, not guessed."""
    from benchmarks.zoo.cli_cost import forward_flops
    from benchmarks.zoo.table import TABLE

    lines = open(TABLE, encoding="utf-8").read().splitlines(keepends=True)
    table = tmp_path / "zoo_models.csv"
    table.write_text("".join(line.replace(",profiled,", ",not counted,") if line.startswith("Carmon2019Unlabeled,")
                             else line for line in lines))
    card = load_card(f"{CARDS_DIR}/Carmon2019Unlabeled.yaml")
    flops, basis, source = forward_flops(card, table=str(table))
    assert (flops, basis) == (10493628928.0, "by-name") and "WideResNet-28-10" in source
    flops, basis, _ = forward_flops(card)
    assert basis == "built" and flops == float(_zoo_row("Carmon2019Unlabeled")["forward_flops"])
    odd = card_from_dict(_card("NotAZooModel", "at", 10, 10, 128, 50000) | {"architecture": "Hypernet-9"},
                         file="odd.yaml")
    assert forward_flops(odd)[:2] == (None, "unknown")


def test_the_shipped_estimates_of_make_trends_are_those_zoo_cost_gives_now():
    """scaling/mappings/zoo_estimates.json (make zoo-estimates; read by make trends, which never imports torch)
    holds what `robustperf zoo cost` computes from the shipped cards and zoo table: not stale."""
    shipped = json.loads(open(f"{ROOT}/scaling/mappings/zoo_estimates.json", encoding="utf-8").read())
    done = run_cli(["zoo", "cost", "--json"])
    assert done.returncode == 0, done.stderr
    fresh = json.loads(done.stdout)
    assert shipped["format"] == fresh["format"] == "robustperf-zoo-estimates/1"
    assert {e["model"]: (e["train_flops"], e["forward_flops_basis"], e["card"]) for e in shipped["estimates"]} == \
        {e["model"]: (e["train_flops"], e["forward_flops_basis"], e["card"]) for e in fresh["estimates"]}
    assert all(not os.path.isabs(e["card"]) for e in shipped["estimates"])

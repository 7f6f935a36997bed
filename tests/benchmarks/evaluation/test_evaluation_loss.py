"""The final evaluation's mean test cross-entropy (``accuracy.clean_loss``, ``pgd_loss``, ``autoattack_loss``)
equals a hand computation with ``F.cross_entropy`` over the same inputs and adversarial examples, on the small
CNN; old records without the fields still read."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

import results
from benchmarks.attacks import create_attack
from benchmarks.evaluation import evaluate, run_autoattack
from recipes import RunConfig
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture

EPS = 0.1
N = 24



def _config():
    ev = {"pgd_steps": 3, "autoattack": ["apgd-ce"], "autoattack_n": 16, "batch_size": 8}
    return RunConfig.from_dict({"seed": 0, "data": {"name": "digits"}, "model": {"depth": 10, "width": 1},
                                "attack": {"norm": "linf", "eps": EPS}, "evaluation": ev})


def test_the_loss_fields_equal_a_hand_computation(small_cnn, tmp_path):
    from benchmarks.datasets import load_dataset

    model = small_cnn()
    x, y = load_dataset("digits", "test")
    x, y = x[:N], y[:N]
    cfg = _config()
    acc = evaluate(model, cfg, str(tmp_path), data=(x, y), measure_inference=False)["accuracy"]
    with torch.no_grad():
        clean = F.cross_entropy(model(x), y).item()
    # the evaluation's PGD: one generator seeded with the run seed, drawn batch after batch in order
    craft = create_attack("pgd", model, norm="linf", eps=EPS, steps=3, step_size=cfg.eval_step_size)
    generator = torch.Generator().manual_seed(0)
    adv = torch.cat([craft(x[i:i + 8], y[i:i + 8], generator=generator) for i in range(0, N, 8)])
    with torch.no_grad():
        pgd = F.cross_entropy(model(adv), y).item()
    # AutoAttack's final examples (the adversarial one where an attack fooled the model, else the clean point)
    examples = run_autoattack(model, x[:16], y[:16], eps=EPS, version=["apgd-ce"], seed=0, batch_size=8,
                              keep_examples=True).examples
    with torch.no_grad():
        autoattack = F.cross_entropy(model(examples), y[:16]).item()
    assert acc["clean_loss"] == pytest.approx(clean, rel=1e-5)
    assert acc["pgd_loss"] == pytest.approx(pgd, rel=1e-5)
    assert acc["autoattack_loss"] == pytest.approx(autoattack, rel=1e-5)
    assert acc["clean_loss"] < acc["pgd_loss"]  # the attack raised the loss it ascends
    assert acc["autoattack"] < acc["per_attack"]["clean"]  # AutoAttack fooled some points: the examples differ
    # resumed from the saved progress and AutoAttack state: the same numbers, nothing recomputed
    again = evaluate(model, cfg, str(tmp_path), data=(x, y), measure_inference=False)["accuracy"]
    assert {k: again[k] for k in ("clean_loss", "pgd_loss", "autoattack_loss")} == \
        {k: acc[k] for k in ("clean_loss", "pgd_loss", "autoattack_loss")}


def test_a_record_written_before_the_loss_fields_reads_with_them_null(tmp_path):
    record = results.new_record("abc123def456", "n", {"seed": 0})
    for key in ("clean_loss", "pgd_loss", "autoattack_loss"):
        del record["accuracy"][key]
    folder = tmp_path / "abc123def456"
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps(record))
    read = results.read_record(str(folder / "result.json"))
    assert read["accuracy"]["clean_loss"] is read["accuracy"]["autoattack_loss"] is None
    assert "accuracy.pgd_loss" in results.FIELDS

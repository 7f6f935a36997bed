"""Pre-trained starting points (model.init) and the declared cost of pre-training and generated data: weights load
from timm's formats and from a finished run's checkpoint, hostile or ill-fitting files are refused naming
model.init, and the record adds the declared cost to the run's training cost exactly once, across a resume."""
from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from benchmarks.interruption import TEST_INTERRUPT_ENV
from benchmarks.models import create_model, model_spec
from benchmarks.training import DistInfo, Trainer
from benchmarks.training.init import load_init
from recipes import RunConfig
from recipes.errors import RecipeError
from results import load_record
from tests.benchmarks._training_helpers import one_thread, run_cli  # noqa: F401 - autouse fixture
from tests.conftest import ROOT

MODEL = {"arch": "wrn", "depth": 10, "width": 1}


def _model(classes=10, seed=1):
    torch.manual_seed(seed)
    cfg = RunConfig.from_dict({"model": MODEL})
    return create_model(model_spec(cfg.model, classes, 1, (0.5,), (0.5,), image_size=8), classes, 1)


def _same(a, b):
    return all(torch.equal(v, b[k]) for k, v in a.items() if not k.endswith("num_batches_tracked"))


def test_init_loads_a_state_dict_a_safetensors_file_and_a_runs_checkpoint(tmp_path):
    source = _model(seed=1).state_dict()
    torch.save(source, tmp_path / "w.pth")
    save_file({k: v.contiguous() for k, v in source.items()}, str(tmp_path / "w.safetensors"))
    ema = _model(seed=2).state_dict()
    torch.save({"model": source, "ema": ema, "format": 1}, tmp_path / "checkpoint-best.pt")
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.items()}}, tmp_path / "wrapped.pth")
    for name, expected in (("w.pth", source), ("w.safetensors", source), ("checkpoint-best.pt", ema),
                           ("wrapped.pth", source)):
        model = _model(seed=3)
        info = load_init(str(tmp_path / name), model)
        assert _same(model.state_dict(), expected), name
        assert len(info["init_sha256"]) == 64 and info["init_head_kept"] == []
    # a 5-class head: everything but the classifier is loaded
    model = _model(seed=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    five = _model(classes=5, seed=1).state_dict()
    torch.save(five, tmp_path / "five.pth")
    info = load_init(str(tmp_path / "five.pth"), model)
    assert len(info["init_head_kept"]) == 2
    head = set(info["init_head_kept"])
    for k, v in model.state_dict().items():
        if k in head:
            assert torch.equal(v, before[k])
        elif not k.endswith("num_batches_tracked"):
            assert torch.equal(v, five[k]), k


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/h27_init_pwned",))


def test_hostile_or_ill_fitting_init_files_are_refused_naming_the_key(tmp_path):
    with open(tmp_path / "evil.pth", "wb") as fh:
        pickle.dump({"conv.weight": _Evil()}, fh)
    source = _model().state_dict()
    bad_shape = dict(source)
    first = next(k for k in bad_shape if k.endswith("weight") and bad_shape[k].dim() == 4)
    bad_shape[first] = torch.zeros(1, 1, 1, 1)
    torch.save(bad_shape, tmp_path / "shape.pth")
    torch.save({**source, "extra.weight": torch.zeros(2)}, tmp_path / "extra.pth")
    torch.save({k: v for i, (k, v) in enumerate(source.items()) if i}, tmp_path / "short.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    torch.save([1, 2, 3], tmp_path / "list.pth")
    os.mkfifo(tmp_path / "fifo.pth")
    cases = {"evil.pth": "weights-only", "shape.pth": "shape", "extra.pth": "has not", "short.pth": "lacks",
             "junk.safetensors": "weights-only", "list.pth": "no state_dict", "missing.pth": "no such file",
             "fifo.pth": "cannot be read"}
    for name, words in cases.items():
        with pytest.raises(RecipeError, match=words) as err:
            load_init(str(tmp_path / name), _model())
        assert err.value.key == "model.init", name
    assert not os.path.exists("/tmp/h27_init_pwned")


def test_the_trainer_starts_from_model_init(tmp_path):
    source = _model(seed=7).state_dict()
    torch.save(source, tmp_path / "w.pth")
    cfg = RunConfig.from_dict({"seed": 0, "data": {"name": "digits", "batch_size": 64},
                               "model": {**MODEL, "init": str(tmp_path / "w.pth")},
                               "training": {"loss": "standard", "epochs": 1, "warmup_epochs": 0, "val_size": 64}})
    trainer = Trainer(cfg, DistInfo(), progress=False)
    assert _same(trainer.model.state_dict(), source) and trainer.init["init"] == str(tmp_path / "w.pth")


def test_cost_keys_are_checked_and_leave_the_run_id(tiny_recipe):
    from recipes import load_recipe

    base = load_recipe(str(tiny_recipe)).runs()[0]
    costed = load_recipe(str(tiny_recipe), ['model.pretraining={flops: 1.0e+18, source: "paper, Table 2"}',
                                            "data.synthetic_cost={kwh_per_image: 1.0e-6}"]).runs()[0]
    assert costed.run_id == base.run_id
    assert load_recipe(str(tiny_recipe), ["model.init=/x/w.pth"]).runs()[0].run_id != base.run_id
    for bad in ("model.pretraining={flops: -1}", "model.pretraining={gpus: 3}", "model.pretraining=3",
                "data.synthetic_cost={kwh_per_image: .nan}", "model.pretraining={source: ''}"):
        with pytest.raises(RecipeError) as err:
            load_recipe(str(tiny_recipe), [bad]).runs()
        assert err.value.key.startswith(bad.split("=")[0]), bad


def _run(results, extra, env=None):
    args = ["run", ROOT / "recipes" / "tiny-digits.yaml", "--index", 0, "--no-eval", "--no-progress",
            "--checkpoint-steps", 4, "--results", results]
    for item in ["training.loss=standard", *extra]:
        args += ["--set", item]
    return run_cli(args, env=env)


@pytest.mark.slow
def test_the_record_adds_the_declared_pretraining_cost_once_across_a_resume(tmp_path):
    source = _model(seed=5).state_dict()
    torch.save(source, tmp_path / "w.pth")
    extra = [f"model.init={tmp_path / 'w.pth'}", "measurement.tdp_watts=100",
             'model.pretraining={flops: 1.0e+15, kwh: 2.0, device_hours: 3.0, source: "declared by a test"}']
    killed = _run(tmp_path / "runs", extra, env={TEST_INTERRUPT_ENV: "step:6"})
    assert killed.returncode == -9, killed.stderr
    done = _run(tmp_path / "runs", extra)
    assert done.returncode == 0, done.stderr
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir() and not p.name.startswith("_")]
    record = load_record(str(tmp_path / "runs"), run_dir.name)
    pre = record["pretraining"]
    assert pre["init"] == str(tmp_path / "w.pth") and pre["how"] == "declared"
    assert pre["flops"] == 1e15 and pre["source"] == "declared by a test"
    assert pre["train_flops_with"] == pytest.approx(record["flops"]["train_total"] + 1e15)
    assert pre["device_hours_with"] == pytest.approx(record["cost"]["device_hours"] + 3.0)
    if record["energy"]["train_kwh"] is not None:
        assert pre["train_kwh_with"] == pytest.approx(record["energy"]["train_kwh"] + 2.0)
    import hashlib
    assert pre["init_sha256"] == hashlib.sha256((tmp_path / "w.pth").read_bytes()).hexdigest()
    json.dumps(record)

"""Training methods as plug-ins: every catalog entry loads and keeps exactly the keys it reads in its runs' ids,
FLOPs against each method's passes, a test-only method and a test-only (multi-exit) model family trained with no
edit outside the test."""
from __future__ import annotations

import importlib
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmarks.attacks import list_attacks
from benchmarks.measurement import count_forward_flops, forward_flops_per_sample
from benchmarks.models import all_logits, final_logits
from benchmarks.models.families import ModelFamily, get_family, list_families, register_family, unregister_family
from benchmarks.training import DistInfo, Trainer
from benchmarks.training.methods import Method, get_method, list_methods, register_method, unregister_method
from recipes import load_recipe
from recipes.errors import RecipeError
from recipes import RunConfig, all_paths, catalog, method_name_part, section_fields
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture

#: training.* keys every method shares (the rest belong to the methods that declare them).
SHARED = {"loss", "epochs", "ema_decay", "lr", "lr_base_batch_size", "optimizer", "momentum", "weight_decay",
          "scheduler", "warmup_epochs", "precision", "clip_grad", "awp_gamma", "awp_warmup", "select_subset",
          "select_pgd_steps", "select_pgd_step_size", "select_batch_size", "select_on", "val_size"}
#: the per-epoch check's keys (training.select_*) are shared too
SHARED_PREFIXES = ("select_",)


@pytest.mark.parametrize("name", catalog.names("methods"))
def test_each_method_entry_loads_and_its_facts_hold(name):
    """The entry's implementation is a Method; its attack is a registered training attack; the keys it reads are
    recipe keys; its module cites its paper."""
    entry = catalog.get("methods", name)
    cls = get_method(name)
    assert issubclass(cls, Method)
    assert entry.train_attack is None or "train" in catalog.get("attacks", entry.train_attack).roles
    paths = set(all_paths())
    assert set(entry.all_reads()) <= paths, name
    doc = importlib.import_module(cls.__module__).__doc__
    assert re.search(r"(19|20)\d\d", doc) and ("arxiv.org" in doc or "openreview" in doc), name


def test_every_method_specific_key_is_read_by_some_method():
    training = section_fields("training")
    claimed = {p.split(".", 1)[1] for e in catalog.entries("methods").values() for p in e.all_reads()
               if p.startswith("training.")}
    assert claimed == {k for k, spec in training.items() if spec.get("read_by") == "training.loss"}


@pytest.mark.parametrize("name", catalog.names("methods"))
def test_a_method_name_part_is_empty_exactly_when_it_crafts_nothing(name):
    """A method's run-name part is empty exactly when it crafts no adversarial input at all (no training attack,
    no backbone attack, no replays)."""
    cls = get_method(name)
    attack_free = (catalog.get("methods", name).train_attack is None
                   and getattr(cls, "backbone_attack", None) is None
                   and cls.updates_per_batch is Method.updates_per_batch)
    assert (method_name_part(name, {"attack": {"steps": 5}}) == "") == attack_free, name


def _one_run(tiny_recipe, *sets):
    return load_recipe(str(tiny_recipe), list(sets)).run(0)


#: a value other than the default for each key some plug-ins read
_CHANGED = {"training.trades_beta": 3.0, "training.mart_beta": 3.0, "training.fgsm_alpha": 1.0,
            "training.awp_gamma": 0.01, "training.sdn_ic_epochs": 2, "training.sdn_ic_lr": 0.01,
            "training.sdn_ic_milestone": 3, "attack.steps": 3, "attack.step_size": 0.01, "attack.random_start": False,
            "model.depth": 16, "model.width": 2, "model.activation": "gelu", "model.input_size": 16}


@pytest.mark.parametrize("kind,name", [("methods", n) for n in catalog.names("methods")]
                         + [("models", n) for n in catalog.names("models")])
def test_a_plugin_keeps_exactly_the_keys_it_reads_in_its_runs_ids(tiny_recipe, kind, name):
    """Changing a key the chosen plug-in reads changes the run's id; another plug-in's key leaves it alone."""
    entry = catalog.get(kind, name)
    chooser = {"methods": "training.loss", "models": "model.arch"}[kind]
    base = [f"{chooser}={name}", "training.epochs=30"]
    if kind == "methods" and entry.multi_exit:
        base.append("model.arch=sdn_vgg16")
    if kind == "models" and entry.multi_exit:
        base.append("training.loss=sdn")
    if kind == "models" and entry.fallback:
        base[0] = "model.arch=resnet18"
    reference = _one_run(tiny_recipe, *base).run_id
    for path, value in _CHANGED.items():
        spec = section_fields(path.split(".")[0])[path.split(".")[1]]
        if spec.get("read_by") != chooser or (path == "training.awp_gamma" and path not in entry.all_reads()):
            continue  # (weight perturbation on a method without it is refused: test_awp_on_a_method_without_it)
        changed = _one_run(tiny_recipe, *base, f"{path}={value}").run_id != reference
        assert changed == (path in entry.all_reads()), (name, path)


def test_awp_on_a_method_without_it_is_a_recipe_error(tiny_recipe):
    with pytest.raises(RecipeError, match="weight perturbation") as info:
        load_recipe(str(tiny_recipe), ["training.loss=fgsm_rs", "training.awp_gamma=0.01"]).runs()
    assert info.value.key == "training.loss"


def _trainer(loss, **training):
    cfg = RunConfig.from_dict({
        "seed": 0, "data": {"name": "digits", "batch_size": 8},
        "model": {"arch": "wrn", "depth": 10, "width": 1},
        "training": {"loss": loss, "epochs": 2, "warmup_epochs": 0, **training},
        "attack": {"eps": 0.1, "steps": 3}})
    return Trainer(cfg, DistInfo(), progress=False)


#: (method, extra training keys, expected (attack passes, train passes) per sample with attack.steps = 3)
CASES = [("standard", {}, (0, 1)), ("at", {}, (3, 1)), ("trades", {}, (4, 2)), ("fgsm_rs", {}, (1, 1)),
         ("free", {}, (0, 3)), ("mart", {}, (3, 2)),
         ("at", {"awp_gamma": 0.01}, (3, 2)), ("trades", {"awp_gamma": 0.005}, (4, 4)),
         ("mart", {"awp_gamma": 0.01}, (3, 4)), ("n_fgsm", {}, (1, 1))]


@pytest.mark.parametrize("loss, training, passes", CASES,
                         ids=[f"{c[0]}{'-awp' if c[1] else ''}" for c in CASES])
def test_each_method_executes_its_declared_passes(loss, training, passes):
    """The profiler's count on the method's real step = batch x (attack passes x attack-mode FLOPs + train passes x
    train FLOPs); the attack runs in eval mode, fgsm_rs's in train mode (its paper's code)."""
    trainer = _trainer(loss, **training)
    assert (trainer.method.forward_passes()["attack"], trainer.method.forward_passes()["train"]) == passes
    x, y = trainer.batches.batch(0, 0)
    shape = tuple(x.shape[1:])
    per_eval = forward_flops_per_sample(trainer.model, shape)["forward_flops"]
    per_train = forward_flops_per_sample(trainer.model, shape, train=True)["forward_flops"]
    before = trainer.global_step
    measured = count_forward_flops(trainer.model, lambda: trainer.train_step(x, y))
    per_attack = per_train if loss in ("fgsm_rs", "n_fgsm") else per_eval
    assert trainer.method.attack_mode == ("train" if loss in ("fgsm_rs", "n_fgsm") else "eval")
    assert per_eval != per_train  # BatchNorm: the two modes are told apart
    assert measured == len(y) * (passes[0] * per_attack + passes[1] * per_train)
    assert trainer.global_step - before == trainer.method.updates_per_batch()


def test_awp_restores_the_weights_and_leaves_batch_norm_statistics():
    """With lr ~0 the optimizer step changes nothing, so AWP's perturbation must be removed exactly; its own pass
    does not count as a BatchNorm update (only the training forward does)."""
    trainer = _trainer("at", awp_gamma=0.01, lr=1e-12, weight_decay=0.0)
    x, y = trainer.batches.batch(0, 0)
    plain = _trainer("at", lr=1e-12, weight_decay=0.0)
    trainer.train_step(x, y)
    plain.train_step(x, y)
    for (name, a), b in zip(trainer.model.state_dict().items(), plain.model.state_dict().values()):
        if "running_" not in name:  # running statistics come from the forward at the perturbed weights
            assert torch.allclose(a.float(), b.float(), atol=1e-6), name
    tracked = [v for k, v in trainer.model.state_dict().items() if k.endswith("num_batches_tracked")]
    assert tracked and all(int(v) == 1 for v in tracked)
    assert not torch.equal(trainer.model.state_dict()["stages.0.0.bn1.running_mean"],
                           plain.model.state_dict()["stages.0.0.bn1.running_mean"])


#: per case of CASES: backward passes per sample (with weight gradients, to the input only)
BACKWARD = [(1, 0), (1, 3), (2, 3), (1, 1), (3, 0), (2, 3), (2, 3), (4, 3), (4, 3), (1, 1)]


@pytest.mark.parametrize("case, backward", list(zip(CASES, BACKWARD)),
                         ids=[f"{c[0]}{'-awp' if c[1] else ''}" for c in CASES])
def test_each_methods_executed_flops_follow_its_backward_passes(case, backward):
    """Training passes, replays and AWP back-propagate into the weights (2x their forward), attack steps to the
    input only (1x), TRADES' KL target not at all: executed / forward FLOPs = 1 + (2 w + i) / forward passes."""
    loss, training, (attack, train) = case
    method = _trainer(loss, **training).method
    assert (method.backward_passes()["weights"], method.backward_passes()["input"]) == backward
    assert method.executed_factor() == pytest.approx(1 + (2 * backward[0] + backward[1]) / (attack + train))
    assert (method.executed_factor() == 3.0) == (attack == 0)  # the 3x convention holds without an attack only


def test_flops_sum_over_step_shapes_across_the_awp_warmup(tiny_recipe, tmp_path):
    """AWP from epoch 2: epoch 1's steps and epoch 2's are counted once each and summed as executed."""
    from benchmarks.run import execute
    from results import load_record

    spec = load_recipe(str(tiny_recipe), ["training.epochs=2", "training.awp_gamma=0.01", "training.awp_warmup=1",
                                          "data.batch_size=256", "training.select_subset=32"]).run(0)
    assert execute(spec, str(tmp_path), progress=False, evaluate=False, count_flops=True) == 0
    record = load_record(str(tmp_path), spec.run_id)
    state = torch.load(tmp_path / spec.run_id / "checkpoint-last.pt", weights_only=False)
    counts, flops = state["flops"]["step_counts"], state["flops"]["step_flops"]
    assert counts == {"plain|b256": 5, "awp|b256": 5}
    assert flops["awp|b256"] > flops["plain|b256"]
    total = sum(flops[k] * counts[k] for k in counts)
    assert record["method"] == {"name": "at", "params": {"awp_gamma": 0.01, "awp_warmup": 1}, "train_attack": "pgd",
                                "forward_passes_per_sample": {"attack": 2, "train": 2}}
    assert record["flops"]["train_total"] == 3 * total
    # executed: plain steps 2 attack (input) + 1 train pass (weights), AWP steps one more train pass
    assert state["flops"]["step_factors"] == {"plain|b256": pytest.approx(1 + 4 / 3), "awp|b256": 2.5}
    assert record["flops"]["train_executed"] == pytest.approx(flops["plain|b256"] * 5 * (1 + 4 / 3)
                                                              + flops["awp|b256"] * 5 * 2.5)
    assert record["flops"]["train_executed"] < record["flops"]["train_total"]
    assert record["flops"]["train_samples"] == 10 * 256
    assert record["flops"]["train_forward_per_sample"] == total / (10 * 256)


def test_a_method_registered_from_a_test_trains(tiny_recipe, tmp_path):
    """Adding a method needs its module only: here one defined in the test, trained through `robustperf run`."""
    from benchmarks.run import execute
    from results import load_record

    calls = []

    @register_method("test_clean_plus_adv", name_part="mix-pgd{attack.steps}", train_attack="pgd",
                     reads=("attack.steps", "attack.step_size", "attack.random_start"))
    class CleanPlusAdversarial(Method):
        """Test-only: CE on the clean and the PGD batch, averaged (Goodfellow et al. 2015's mix, arxiv.org)."""

        def train_passes(self):
            return 2

        def loss(self, model, x, y, x_adv):
            calls.append(len(y))
            clean, adv = self.forward(model, torch.cat([x, x_adv])).chunk(2)
            return 0.5 * (F.cross_entropy(clean, y) + F.cross_entropy(adv, y)), adv.detach()

    try:
        # its keys (the PGD attack's) enter its runs' ids; another method's do not
        ids = {sets: load_recipe(str(tiny_recipe), ["training.loss=test_clean_plus_adv", *sets]).run(0).run_id
               for sets in ((), ("attack.steps=7",), ("training.trades_beta=1",))}
        assert len(set(ids.values())) == 2 and ids[()] == ids[("training.trades_beta=1",)]
        spec = load_recipe(str(tiny_recipe), ["training.loss=test_clean_plus_adv", "training.epochs=1",
                                              "training.select_subset=32"]).run(0)
        assert execute(spec, str(tmp_path), progress=False, evaluate=False, count_flops=False) == 0
        record = load_record(str(tmp_path), spec.run_id)
        assert record["status"] == "completed" and "test_clean_plus_adv" in spec.name
        assert f"_test_clean_plus_adv_mix-pgd{spec.config['attack']['steps']}_e1_" in spec.name
        assert len(calls) == record["flops"]["steps"] > 0
    finally:
        unregister_method("test_clean_plus_adv")
    assert "test_clean_plus_adv" not in catalog.names("methods")
    with pytest.raises(RecipeError, match="not an allowed value"):
        load_recipe(str(tiny_recipe), ["training.loss=test_clean_plus_adv"])


class _TwoExitNet(nn.Module):
    """A tiny CNN with an early exit after its first block and a final exit."""

    def __init__(self, in_chans, num_classes, width):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(in_chans, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU())
        self.exit1 = nn.Linear(width, num_classes)
        self.exit2 = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        h = self.block1(x)
        early = self.exit1(h.mean((2, 3)))
        return [early, self.exit2(self.block2(h).mean((2, 3)))]


def test_a_multi_exit_family_registered_from_a_test_trains_and_is_evaluated(tiny_recipe, tmp_path):
    """Adding a model family needs its module only; attacks, accuracy and AutoAttack see the final exit."""
    from benchmarks import load_dataset, load_model
    from benchmarks.evaluation.accuracy import clean_correct, pgd_correct
    from benchmarks.autoattack import run_autoattack
    from benchmarks.run import execute
    from results import load_record

    @register_family("test_two_exit", reads=("model.width",), multi_exit=True)
    class TwoExit(ModelFamily):
        def check(self, model):
            if model["width"] > 64:
                raise RecipeError("too wide for a test", key="model.width", value=model["width"])

        def build(self, spec):
            return _TwoExitNet(spec["in_chans"], spec["num_classes"], 4 * spec["width"])

    try:
        ids = {sets: load_recipe(str(tiny_recipe), ["model.arch=test_two_exit", *sets]).run(0).run_id
               for sets in (("model.width=2",), ("model.width=3",), ("model.width=2", "model.depth=16"))}
        assert len(set(ids.values())) == 2 and ids[("model.width=2",)] == ids[("model.width=2", "model.depth=16")]
        spec = load_recipe(str(tiny_recipe), ["model.arch=test_two_exit", "model.width=2", "training.epochs=2",
                                              "data.batch_size=32", "training.select_subset=64"]).run(0)
        assert spec.name.startswith("test_two_exit_")
        assert execute(spec, str(tmp_path), progress=False, evaluate=False, count_flops=False) == 0
        record = load_record(str(tmp_path), spec.run_id)
        assert record["status"] == "completed" and record["training"]["best_pgd_subset"] is not None
        model = load_model(str(tmp_path / spec.run_id), "last")
        x, y = load_dataset("digits", "test")
        x, y = x[:64], y[:64]
        with torch.no_grad():
            out = model(x)
        assert isinstance(out, list) and len(all_logits(out)) == 2
        final = final_logits(out).argmax(1).eq(y)
        assert torch.equal(clean_correct(model, x, y, batch_size=32), final)
        assert final.float().mean() > 0.3  # trained well above chance (10 %)
        robust = pgd_correct(model, x, y, norm="linf", eps=0.1, steps=3, step_size=0.05, batch_size=32, seed=0)
        assert robust.sum() <= final.sum()
        result = run_autoattack(model, x[:16], y[:16], eps=0.1, version=["apgd-ce"], batch_size=16)
        assert result.clean_accuracy == pytest.approx(final[:16].float().mean().item())
        assert result.robust_accuracy <= result.clean_accuracy
        with pytest.raises(RecipeError, match="too wide"):
            Trainer(load_recipe(str(tiny_recipe), ["model.arch=test_two_exit", "model.width=65"]).run(0)
                    .run_config(), DistInfo(), progress=False)
    finally:
        unregister_family("test_two_exit")


def test_methods_recipes_expand():
    from tests.conftest import ROOT

    cifar = load_recipe(str(ROOT / "recipes" / "methods-cifar10.yaml")).runs()
    assert len(cifar) == 5 * 12 * 3
    sdn_methods = {e.name for e in catalog.entries("methods").values() if e.multi_exit}
    # the multi-exit (SDN) methods are in recipes/deepsloth-cifar10.yaml (tests/benchmarks/slowdown/test_slowdown_run.py)
    # methods added after the study's 180 runs were fixed are in their own recipes (n_fgsm: fast-cifar10.yaml)
    later = {"n_fgsm"}
    assert {r.config["training"]["loss"] for r in cifar} == set(catalog.names("methods")) - sdn_methods - later
    assert {r.config["model"]["arch"] for r in cifar} == {"cifar_resnet18", "preact_resnet18", "wrn", "vit_cifar_s"}
    free = [r for r in cifar if r.config["training"]["loss"] == "free"]
    assert all(r.config["attack"]["steps"] == 8 and r.config["training"]["epochs"] == 13 for r in free)
    assert {r.config["training"]["trades_beta"] for r in cifar if r.config["training"]["loss"] == "trades"} == \
        {1.0, 3.0, 6.0}
    imagenet = load_recipe(str(ROOT / "recipes" / "methods-imagenet.yaml")).runs()
    assert {r.config["attack"]["eps"] for r in imagenet} == {4 / 255}
    assert {r.config["model"]["arch"] for r in imagenet} == {"resnet50"}
    digits = load_recipe(str(ROOT / "recipes" / "methods-digits.yaml")).runs()
    assert {r.config["training"]["loss"] for r in digits} == set(catalog.names("methods")) - sdn_methods - later


@pytest.mark.slow
def test_fp16_trains_with_a_checkpointed_gradient_scaler(tiny_recipe, tmp_path):
    from benchmarks.run import execute
    from results import load_record

    spec = load_recipe(str(tiny_recipe), ["training.precision=fp16", "training.epochs=1", "data.batch_size=256",
                                          "training.select_subset=32"]).run(1)
    assert execute(spec, str(tmp_path), progress=False, evaluate=False, count_flops=False) == 0
    record = load_record(str(tmp_path), spec.run_id)
    assert record["status"] == "completed" and record["training"]["precision"] == "fp16"
    state = torch.load(tmp_path / spec.run_id / "checkpoint-last.pt", weights_only=True)
    assert state["scaler"]["scale"] > 0 and state["scaler"]["_growth_tracker"] == 5  # one scaled update per step


def test_step_sizes_of_trades_and_mart_and_fgsm_rs_crafting_in_train_mode():
    """A null attack.step_size is the suite's shared 1.5 eps / steps for every PGD-based method (what runs written
    with it trained); the methods study sets TRADES' and MART's paper step (0.007) explicitly. fgsm_rs steps
    1.25 eps and crafts with BatchNorm in train mode (its forward moves the running statistics, as in
    locuslab/fast_adversarial)."""
    eps, steps = 0.1, 3  # _trainer's attack
    for loss in ("at", "trades", "mart"):
        kwargs = _trainer(loss).method.attack_kwargs()
        assert kwargs["step_size"] == pytest.approx(1.5 * eps / steps) and kwargs["steps"] == steps
    cfg = RunConfig.from_dict({"seed": 0, "data": {"name": "digits", "batch_size": 8},
                               "model": {"arch": "wrn", "depth": 10, "width": 1},
                               "training": {"loss": "trades", "epochs": 1, "warmup_epochs": 0},
                               "attack": {"eps": 0.1, "steps": 3, "step_size": 0.02}})
    assert Trainer(cfg, DistInfo(), progress=False).method.attack_kwargs()["step_size"] == pytest.approx(0.02)
    from tests.conftest import ROOT

    study = load_recipe(str(ROOT / "recipes" / "methods-cifar10.yaml")).runs()
    paper = {r.config["attack"]["step_size"] for r in study if r.config["training"]["loss"] in ("trades", "mart")}
    assert paper == {0.007}

    trainer = _trainer("fgsm_rs")
    kwargs = trainer.method.attack_kwargs()
    assert (kwargs["steps"], kwargs["step_size"], kwargs["random_start"]) == (1, pytest.approx(1.25 * eps), True)
    x, y = trainer.batches.batch(0, 0)
    bn = next(m for m in trainer.model.modules() if isinstance(m, nn.BatchNorm2d))
    trainer.model.eval()  # crafting must put it in train mode itself
    before = bn.running_mean.clone()
    generator = torch.Generator().manual_seed(0)
    x_adv = trainer.method.craft(x, y, generator)
    assert trainer.model.training and not torch.equal(bn.running_mean, before)
    assert float((x_adv - x).abs().max()) <= eps + 1e-6 and 0 <= float(x_adv.min()) <= float(x_adv.max()) <= 1
    # the same draws and one signed step from the model's train-mode gradient
    generator = torch.Generator().manual_seed(0)
    start = (x + (torch.rand(x.shape, generator=generator) * 2 - 1) * eps).clamp(0, 1).requires_grad_(True)
    grad, = torch.autograd.grad(F.cross_entropy(trainer.model(start), y, reduction="sum"), [start])
    expected = torch.min(torch.max(start.detach() + 1.25 * eps * grad.sign(), x - eps), x + eps).clamp(0, 1)
    assert torch.allclose(x_adv, expected, atol=1e-6)

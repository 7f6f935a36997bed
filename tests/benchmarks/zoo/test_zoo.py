"""RobustBench's model zoo offline (benchmarks/zoo): building, loading local checkpoints, `robustperf zoo list`
and `zoo eval`, and the compatibility module's promise that importing fetches nothing."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from benchmarks.zoo import ZooError, build_model, load_weights, zoo_entries
from benchmarks.zoo.table import count, read_table

from .._dataset_fixtures import write_cifar

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CLI = [sys.executable, os.path.join(ROOT, "robustperf.py")]
#: a handful of small models of three leaderboards (the fast tier); the slow test builds a whole leaderboard
FEW = [("Standard", "cifar10", "Linf"), ("Wong2020Fast", "cifar10", "Linf"), ("Ding2020MMA", "cifar10", "L2"),
       ("Rice2020Overfitting", "cifar10", "L2")]


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_zoo_holds_the_leaderboards_of_robustbench_1_1_1():
    entries = zoo_entries()
    sizes = {(d, t): sum(1 for e in entries if (e.dataset, e.threat) == (d, t) and e.buildable)
             for d, t in (("cifar10", "Linf"), ("cifar10", "L2"), ("cifar100", "Linf"), ("imagenet", "Linf"))}
    assert sizes == {("cifar10", "Linf"): 76, ("cifar10", "L2"): 21, ("cifar100", "Linf"): 38,
                     ("imagenet", "Linf"): 30}
    standard = next(e for e in entries if (e.name, e.dataset, e.threat) == ("Standard", "cifar10", "Linf"))
    assert (standard.architecture, standard.reported_clean, standard.extra_data) == ("WideResNet-28-10", 94.78, False)
    assert standard.source == "robustbench:Standard"


def test_standard_builds_with_the_issues_parameter_count():
    assert _params(build_model("Standard", "cifar10", "Linf")) == 36_479_194


@pytest.mark.parametrize("name,dataset,threat", FEW)
def test_shipped_table_matches_a_fresh_build(name, dataset, threat):
    shipped = {(r["name"], r["dataset"], r["threat"]): r for r in read_table()}
    row = shipped[(name, dataset, threat)]
    entry = next(e for e in zoo_entries(dataset, threat) if e.name == name)
    fresh = count(entry)
    assert row["status"] == fresh["status"] == "profiled"
    assert (row["params"], row["forward_flops"]) == (int(fresh["params"]), int(fresh["forward_flops"]))
    assert row["architecture"] == entry.architecture and row["reported_clean"] == entry.reported_clean


@pytest.mark.slow
@pytest.mark.timeout(3000)
def test_every_cifar10_l2_model_builds_with_its_tables_count():
    shipped = {(r["name"], r["dataset"], r["threat"]): r for r in read_table(dataset="cifar10", threat="L2")}
    for entry in zoo_entries("cifar10", "L2"):
        model = build_model(entry.name, "cifar10", "L2")
        assert _params(model) == shipped[(entry.name, "cifar10", "L2")]["params"], entry.name


def _save(model, path, wrap):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    state = model.state_dict()
    if wrap == "state_dict":
        torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, path)
    elif wrap == "model_state_dict":
        torch.save({"model_state_dict": state, "epoch": 3}, path)
    else:
        torch.save(state, path)


@pytest.mark.parametrize("wrap", ["state_dict", "model_state_dict", "plain"])
def test_a_checkpoint_in_robustbenchs_format_loads_with_identical_logits(tmp_path, wrap):
    torch.manual_seed(1)
    model = build_model("Wong2020Fast", "cifar10", "Linf")
    _save(model, str(tmp_path / "cifar10" / "Linf" / "Wong2020Fast.pt"), wrap)
    torch.manual_seed(2)
    fresh = build_model("Wong2020Fast", "cifar10", "Linf")
    x = torch.rand(3, 3, 32, 32)
    assert not torch.equal(fresh(x), model(x))
    loaded = load_weights(fresh, "Wong2020Fast", "cifar10", "Linf", str(tmp_path))
    assert torch.equal(loaded(x), model(x))


def test_missing_checkpoint_names_path_source_and_where_to_fetch(tmp_path):
    with pytest.raises(ZooError) as err:
        load_weights(build_model("Standard", "cifar10", "Linf"), "Standard", "cifar10", "Linf", str(tmp_path))
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "cifar10" / "Linf" / "Standard.pt") in message
    assert "github.com/RobustBench" in message and "never downloads" in message


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/robustperf-zoo-pwned",))


def test_crafted_checkpoint_is_refused_without_running_code(tmp_path):
    path = tmp_path / "cifar10" / "Linf" / "Standard.pt"
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": _Boom()}, str(path), _use_new_zipfile_serialization=True)
    with pytest.raises(ZooError) as err:
        load_weights(build_model("Standard", "cifar10", "Linf"), "Standard", "cifar10", "Linf", str(tmp_path))
    assert "weights_only" in str(err.value) and "\n" not in str(err.value)
    assert not os.path.exists("/tmp/robustperf-zoo-pwned")


def _run(args, **kw):
    return subprocess.run(CLI + args, capture_output=True, text=True, cwd=ROOT, timeout=600, **kw)


@pytest.mark.slow  # console processes that build a model each (~27 s)
def test_cli_missing_and_crafted_files_exit_2_with_one_line(tmp_path):
    out = _run(["zoo", "eval", "Standard", "--dataset", "cifar10", "--threat", "Linf", "--model-dir",
                str(tmp_path), "--results", str(tmp_path / "runs")])
    assert out.returncode == 2, out.stderr
    errors = [l for l in out.stderr.splitlines() if "error" in l]
    assert len(errors) == 1 and "Standard.pt" in errors[0] and "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists()
    (tmp_path / "cifar10" / "Linf").mkdir(parents=True)
    (tmp_path / "cifar10" / "Linf" / "Standard.pt").write_bytes(b"not a checkpoint")
    out = _run(["zoo", "eval", "Standard", "--dataset", "cifar10", "--threat", "Linf", "--model-dir",
                str(tmp_path), "--results", str(tmp_path / "runs")])
    assert out.returncode == 2 and "not a plain-tensor checkpoint" in out.stderr and "Traceback" not in out.stderr


def test_zoo_list_json_reads_the_shipped_table():
    out = _run(["zoo", "list", "--dataset", "cifar10", "--threat", "linf", "--json"])
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 76
    standard = next(r for r in rows if r["name"] == "Standard")
    assert standard["params"] == 36_479_194 and standard["reported_autoattack"] == 0.0


@pytest.mark.slow  # a whole evaluation and inference benchmark (~15 s)
def test_zoo_eval_writes_a_record_with_accuracies_inference_and_its_source(tmp_path):
    write_cifar(tmp_path / "data", "cifar10", per_file=6)
    torch.manual_seed(0)
    _save(build_model("Wong2020Fast", "cifar10", "Linf"), str(tmp_path / "models" / "cifar10" / "Linf" /
                                                              "Wong2020Fast.pt"), "state_dict")
    out = _run(["zoo", "eval", "Wong2020Fast", "--dataset", "cifar10", "--threat", "Linf", "--model-dir",
                str(tmp_path / "models"), "--results", str(tmp_path / "runs"), "--set",
                f"data.root={tmp_path / 'data'}", "--set", "evaluation.autoattack=[apgd-ce]", "--set",
                "evaluation.autoattack_n=4", "--set", "evaluation.pgd_steps=1", "--set",
                "measurement.energy_source=none", "--precision", "fp32", "--batch-sizes", "4", "--queries", "3",
                "--warmup", "1", "--passes", "1", "--calibration-n", "4"])
    assert out.returncode == 0, out.stderr[-3000:]
    from results import read_run_record

    record = read_run_record(str(tmp_path / "runs" / "zoo-cifar10-linf-Wong2020Fast"))
    assert record["status"] == "completed" and record["origin"]["source"] == "robustbench:Wong2020Fast"
    assert record["accuracy"]["clean_n"] == 6 and record["accuracy"]["autoattack_n"] == 4
    assert record["origin"]["reported_autoattack"] == 43.21
    assert record["origin"]["autoattack_difference"] == pytest.approx(record["accuracy"]["autoattack"] - 43.21)
    assert record["origin"]["training"].startswith("not measured")
    assert all(v is None for v in record["training"].values())
    fp32 = record["evaluation"]["inference"]["fp32"]
    assert fp32["status"] == "measured" and fp32["SingleStream"]["latency_ms_p50"] > 0
    assert record["evaluation"]["inference"]["setup"]["command"] == "robustperf zoo eval"
    assert record["flops"]["forward_per_sample"] == record["evaluation"]["inference"]["setup"]["flops_per_image"]


@pytest.mark.slow  # builds zoo models in a fresh interpreter with the network cut (~7 s)
@pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare is not installed")
def test_importing_the_compat_module_and_building_fetches_nothing():
    code = ("import sys; seen = []; sys.addaudithook(lambda event, args: event.startswith(('socket.connect', "
            "'socket.getaddrinfo', 'urllib.Request')) and seen.append(event)); "
            "from benchmarks.zoo.compat import import_robustbench; import_robustbench(); "
            "from benchmarks.zoo import build_model; build_model('Standard', 'cifar10', 'Linf'); "
            "build_model('Standard_R50', 'imagenet', 'Linf'); "
            "import sys; assert 'pkg_resources' not in sys.modules or hasattr(sys.modules['pkg_resources'], "
            "'working_set'); assert not seen, seen; print('ok')")
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no network namespace here: " + probe.stderr.decode()[:100])
    out = subprocess.run(["unshare", "-rn", sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_a_builder_asking_for_pretrained_weights_gets_the_architecture_and_no_socket():
    """robustbench builds its ImageNet baseline as torchvision's resnet50(pretrained=True): built here, it is the
    architecture alone (the weights come from --model-dir), and any connection a builder still tries is refused."""
    import socket

    from benchmarks._compat import import_torchvision
    from benchmarks.zoo import build_model
    from benchmarks.zoo.compat import ZooDownloadRefused, offline_build

    seen = []
    sys.addaudithook(lambda event, args: event.startswith(("socket.connect", "urllib.Request")) and seen.append(event))
    model = build_model("Standard_R50", "imagenet", "Linf")
    reference = import_torchvision().models.resnet50(weights=None)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    assert not seen, seen
    with offline_build(), socket.socket() as sock:
        with pytest.raises(ZooDownloadRefused, match="tried to connect to .*--model-dir"):
            sock.connect(("198.51.100.1", 443))
    assert import_torchvision().models.resnet50.__name__ == "resnet50" and socket.socket.connect is not None


def test_one_zoo_command_dispatches_list_eval_and_cost():
    """`robustperf zoo` is one command whose subcommands are list, eval and cost (benchmarks.zoo.cli.SUBCOMMANDS)."""
    out = _run(["zoo", "--help"])
    assert out.returncode == 0 and all(name in out.stdout for name in ("list", "eval", "cost"))
    for name, option in (("list", "--json"), ("eval", "--model-dir"), ("cost", "--device-record")):
        sub = _run(["zoo", name, "--help"])
        assert sub.returncode == 0 and option in sub.stdout, sub.stderr
    assert not os.path.exists(os.path.join(ROOT, "benchmarks", "cli_zoo.py"))

"""Multi-node runs: two torchrun "nodes" on localhost (gloo, one process each, a c10d rendezvous as the SLURM and
LSF scripts start them) train the same weights as one node of two processes, stop and resume bit-identically,
and the run's energy is the sum of both nodes' own meters (each node draws a known power: _node_driver.py)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch

from benchmarks.interruption import TEST_INTERRUPT_ENV
from recipes import load_recipe
from results import load_record
from tests.benchmarks._fake_power import install
from tests.benchmarks.run._node_driver import NODE_WATTS
from tests.conftest import ROOT

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

OVERRIDES = ["training.epochs=1", "data.batch_size=32", "measurement.energy_source=fake"]
DRIVER = str(ROOT / "tests" / "benchmarks" / "run" / "_node_driver.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_args(recipe, results) -> list:
    args = ["run", str(recipe), "--index", "0", "--results", str(results), "--device", "cpu", "--no-eval",
            "--no-flops", "--no-progress"]
    for item in OVERRIDES:
        args += ["--set", item]
    return args


def _env(**extra) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), **extra)
    if TEST_INTERRUPT_ENV not in extra:
        env.pop(TEST_INTERRUPT_ENV, None)
    return env


def _one_node(recipe, results) -> None:
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", DRIVER,
            *_run_args(recipe, results)]
    proc = subprocess.run(args, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _two_nodes(recipe, results, node_env=({}, {})):
    """Two torchrun agents, as srun or blaunch would start them on two nodes; returns their (code, output)."""
    port = _free_port()
    procs = []
    for extra in node_env:
        args = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
                "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", f"--rdzv_id=test-{port}", DRIVER,
                *_run_args(recipe, results)]
        procs.append(subprocess.Popen(args, cwd=ROOT, env=_env(**extra), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    out = []
    for proc in procs:
        text, _ = proc.communicate(timeout=500)
        out.append((proc.returncode, text))
    return out


def _weights(results, run_id):
    state = torch.load(os.path.join(results, run_id, "checkpoint-last.pt"), map_location="cpu", weights_only=False)
    return state, {k: v for k, v in state["model"].items()}


@pytest.fixture(scope="module")
def runs(tiny_recipe, tmp_path_factory):
    base = tmp_path_factory.mktemp("nodes")
    one, two = base / "one", base / "two"
    _one_node(tiny_recipe, one)
    for code, text in _two_nodes(tiny_recipe, two):
        assert code == 0, text[-4000:]
    remove = install(lambda devices, cfg, clock: None)  # the meter the recipe names, as the driver registers it
    try:
        run_id = load_recipe(str(tiny_recipe), OVERRIDES).run(0).run_id
    finally:
        remove()
    return {"one": str(one), "two": str(two), "base": base, "run_id": run_id}


def test_two_nodes_train_the_weights_of_one_node_of_the_same_global_batch(runs):
    _, one = _weights(runs["one"], runs["run_id"])
    state, two = _weights(runs["two"], runs["run_id"])
    assert one.keys() == two.keys()
    for key in one:
        assert torch.equal(one[key], two[key]), key
    record = load_record(runs["two"], runs["run_id"])
    assert record["status"] == "completed"
    assert record["training"]["world_size"] == 2 and record["training"]["global_batch_size"] == 64


def test_two_nodes_energy_is_the_sum_of_each_nodes_own_meter(runs):
    state, _ = _weights(runs["two"], runs["run_id"])
    totals = state["extra"]["energy"]
    nodes = totals["nodes"]
    assert len(nodes) == 2
    for watts, node in zip(NODE_WATTS, nodes):  # each node read its own devices: its own known power
        train = node["windows"]["train"]
        assert train["energy_j"] == pytest.approx(watts * train["seconds"], rel=1e-4)  # read a moment apart
        assert node["devices"] == 1
    record = load_record(runs["two"], runs["run_id"])
    energy = record["energy"]
    for window, key in (("train", "train_j"), ("total", "device_j")):
        assert energy[key] == pytest.approx(sum(n["windows"][window]["energy_j"] for n in nodes), rel=1e-9)
    assert energy["source"] == "fake"
    # the per-epoch series is every node's too (gathered at each epoch's end), not the first node's alone
    per_epoch = sum(sum(j for j in row[2:] if j is not None) for row in energy["epochs"])
    assert per_epoch == pytest.approx(energy["train_j"], rel=0.01)
    # One node of two processes is metered once, by rank 0 (100 W), as before.
    one = load_record(runs["one"], runs["run_id"])["energy"]
    assert one["mean_power_w"] == pytest.approx(NODE_WATTS[0], rel=1e-4)
    assert energy["mean_power_w"] > NODE_WATTS[1]


def test_a_stopped_two_node_run_resumes_bit_identically(runs, tiny_recipe):
    results = runs["base"] / "stopped"
    # SIGTERM reaches one node only (at its 5th step): the nodes agree to stop, rank 0 checkpoints, both exit.
    stopped = _two_nodes(tiny_recipe, results, ({}, {TEST_INTERRUPT_ENV: "step:5:TERM"}))
    assert all(code != 0 for code, _ in stopped), stopped
    record = load_record(str(results), runs["run_id"])
    assert record["status"] == "preempted"
    first_j = record["energy"]["device_j"]
    assert first_j and first_j > 0
    for code, text in _two_nodes(tiny_recipe, results):
        assert code == 0, text[-4000:]
    record = load_record(str(results), runs["run_id"])
    assert record["status"] == "completed" and record["job"]["attempts"] == 2
    _, resumed = _weights(str(results), runs["run_id"])
    _, straight = _weights(runs["two"], runs["run_id"])
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    assert record["energy"]["device_j"] > first_j  # both sessions' energy, summed over nodes
    # each node went on from its own count (extra.energy.nodes), not from the other's: still its own power
    state, _ = _weights(str(results), runs["run_id"])
    nodes = state["extra"]["energy"]["nodes"]
    for watts, node in zip(NODE_WATTS, nodes):
        train = node["windows"]["train"]
        assert train["count"] >= 2 and train["energy_j"] == pytest.approx(watts * train["seconds"], rel=1e-4)
    assert record["energy"]["device_j"] == pytest.approx(sum(n["windows"]["total"]["energy_j"] for n in nodes),
                                                         rel=1e-9)

"""Data-parallel training: two gloo processes on the CPU end with identical weights; `robustperf run` under torchrun."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp

from recipes import load_recipe
from results import load_record
from tests.conftest import ROOT

# A hung collective must fail the test, not the suite (gloo's own timeout is 30 minutes).
pytestmark = pytest.mark.timeout(300)

OVERRIDES = ["training.epochs=1", "data.batch_size=32", "training.ema_decay=0.9"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, recipe: str, out: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from benchmarks.training import Trainer, init_distributed
    from benchmarks.training.distributed import destroy_distributed

    dist = init_distributed("cpu")
    trainer = Trainer(load_recipe(recipe, OVERRIDES).run(0).run_config(), dist, progress=False)
    trainer.train()
    torch.save({"model": trainer.model.state_dict(), "ema": trainer.ema.module.state_dict(),
                "history": trainer.history, "steps": trainer.global_step},
               os.path.join(out, f"rank{rank}.pt"))
    trainer.close()
    destroy_distributed()


def test_two_gloo_ranks_end_with_identical_weights(tiny_recipe, tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tiny_recipe), str(tmp_path)), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0["steps"] == rank1["steps"] == 1437 // 64  # global batch = 32 per rank x 2 ranks
    for group in ("model", "ema"):
        for key, value in rank0[group].items():
            assert torch.equal(value, rank1[group][key]), (group, key)
    # the per-epoch check is sharded over the ranks and summed: both report the same numbers
    assert rank0["history"][0]["pgd_subset"] == rank1["history"][0]["pgd_subset"]
    assert rank0["history"][0]["train_loss"] == rank1["history"][0]["train_loss"]
    assert rank0["history"][0]["clean_subset"] > 10.0


@pytest.mark.slow
def test_robustperf_run_under_torchrun(tiny_recipe, tmp_path):
    args = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
            str(_free_port()), "-m", "robustperf", "run", str(tiny_recipe), "--index", "1", "--results", str(tmp_path),
            "--device", "cpu", "--no-eval", "--no-flops", "--no-progress"]
    for item in OVERRIDES:
        args += ["--set", item]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("ROBUSTPERF_TEST_INTERRUPT", None)
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("epoch 1/1") == 1  # only rank 0 logs (and writes)
    spec = load_recipe(str(tiny_recipe), OVERRIDES).run(1)
    record = load_record(str(tmp_path), spec.run_id)
    assert record["status"] == "completed"
    assert record["training"]["world_size"] == 2 and record["training"]["global_batch_size"] == 64
    assert record["flops"]["steps"] == 1437 // 64


def test_resume_with_another_world_size_is_a_user_error(tiny_recipe, tmp_path):
    from benchmarks.training import ResumeError, Trainer
    from benchmarks.training.distributed import DistInfo

    cfg = load_recipe(str(tiny_recipe), OVERRIDES).run(0).run_config()
    trainer = Trainer(cfg, DistInfo(), progress=False)
    state = trainer.state_dict()
    state["data_order"]["world_size"] = 2  # as written by rank 0 of a 2-process run
    try:
        trainer.load_state_dict(state)
    except ResumeError as err:
        assert "--nproc_per_node" in str(err)
    else:
        raise AssertionError("a checkpoint of another world size was accepted")

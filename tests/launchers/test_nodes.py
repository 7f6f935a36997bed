"""Multi-node runs (``launch.nodes`` / ``--nodes``): the SLURM and LSF job scripts start one torchrun per node at a
c10d rendezvous on the first node; one node leaves every script as it was. The LSF script runs here for real on
two "hosts" that are both localhost (a stand-in ``blaunch`` starts the command once per host, as LSF's does)."""
from __future__ import annotations

import os
import pathlib
import re
import socket
import subprocess
import sys

import pytest

from launchers.launch import launch
from recipes import load_recipe
from results import load_record
from tests.conftest import ROOT

FAST = ["training.epochs=1", "attack.steps=1", "evaluation.autoattack=null", "evaluation.pgd_steps=2",
        "training.select_subset=64", "training.select_pgd_steps=2", "data.batch_size=32"]


def _script(tmp_path, tiny_recipe, scheduler, overrides=(), **parameters):
    recipe = load_recipe(str(tiny_recipe), list(overrides))
    result = launch(recipe, scheduler=scheduler, results_dir=str(tmp_path / "results"), indices="0", dry_run=True,
                    overrides=list(overrides), parameters=parameters or None)
    (job,) = result.jobs
    return result, pathlib.Path(job.script).read_text()


def _bash_n(text):
    proc = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("scheduler", ["slurm", "lsf"])
def test_one_node_leaves_the_script_as_it_was(tmp_path, tiny_recipe, scheduler):
    _, before = _script(tmp_path, tiny_recipe, scheduler)
    _, explicit = _script(tmp_path, tiny_recipe, scheduler, ["launch.nodes=1"])
    assert before == explicit.replace(" --set launch.nodes=1", "")
    assert "rdzv" not in before and "NODE_LAUNCH" not in before


def test_slurm_script_of_two_nodes(tmp_path, tiny_recipe):
    result, text = _script(tmp_path, tiny_recipe, "slurm", ["launch.nodes=2", "launch.gpus_per_run=4",
                                                            "launch.cpus_per_run=16"])
    _bash_n(text)
    assert "#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=1\n" in text and "#SBATCH --ntasks=1" not in text
    assert "#SBATCH --gpus-per-node=4" in text and "#SBATCH --cpus-per-task=16" in text
    assert 'RDZV_HOST=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)' in text
    assert "NODE_LAUNCH=(srun --nodes=2 --ntasks-per-node=1 --cpus-per-task=16)" in text
    (line,) = [ln for ln in text.splitlines() if ln.startswith('"${NODE_LAUNCH[@]}"')]
    assert "-m torch.distributed.run --nnodes=2 --nproc_per_node=4 --rdzv_backend=c10d " \
           '--rdzv_endpoint="$RDZV_HOST:$RDZV_PORT" --rdzv_id="$RDZV_ID" -m robustperf run' in line
    assert line.endswith(" &") and "--standalone" not in line
    # torchrun passes TERM, not USR1, on to its workers: either signal reaches the run as TERM (through srun)
    assert "trap 'forward TERM' USR1" in text and 'export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}"' in text
    # ... as a plain signal to the step's processes: SIGTERM to srun itself would end the step without a checkpoint
    assert 'then scancel --signal="$1" "$SLURM_JOB_ID" 2>/dev/null; else pending=$1; fi; }' in text


def test_lsf_script_of_two_nodes(tmp_path, tiny_recipe):
    _, text = _script(tmp_path, tiny_recipe, "lsf", ["launch.nodes=2", "launch.cpus_per_run=4"])
    _bash_n(text)
    assert '#BSUB -n 8\n#BSUB -R "span[ptile=4]"' in text and "span[hosts=1]" not in text
    assert 'NODE_LAUNCH=(blaunch -z "$RDZV_HOSTS")' in text
    assert "--nnodes=2 --nproc_per_node=1 --rdzv_backend=c10d" in text
    # the hosts: the odd words of LSB_MCPU_HOSTS, the first one hosting the rendezvous
    probe = "\n".join(ln for ln in text.splitlines() if ln.startswith(("RDZV_HOSTS=", "RDZV_HOST=")))
    proc = subprocess.run(["bash", "-c", probe + '\necho "$RDZV_HOSTS|$RDZV_HOST"'], capture_output=True, text=True,
                          env=dict(os.environ, LSB_MCPU_HOSTS="nodeA 4 nodeB 4 nodeC 4"))
    assert proc.stdout.strip() == "nodeA nodeB nodeC|nodeA"


def test_nodes_on_the_local_executor_is_one_clear_line(tmp_path, tiny_recipe):
    proc = subprocess.run([sys.executable, "-m", "robustperf", "launch", str(tiny_recipe), "--nodes", "2",
                           "--results", str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "launch.nodes is 2" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r" / "_launch").exists()
    proc = subprocess.run([sys.executable, "-m", "robustperf", "launch", str(tiny_recipe), "--nodes", "0",
                           "--scheduler", "slurm", "--dry-run", "--results", str(tmp_path / "r")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--nodes" in proc.stderr and "launch.nodes" in proc.stderr


def test_dry_run_with_nodes_option(tmp_path, tiny_recipe):
    proc = subprocess.run([sys.executable, "-m", "robustperf", "launch", str(tiny_recipe), "--nodes", "3",
                           "--scheduler", "slurm", "--dry-run", "--indices", "0", "--results", str(tmp_path / "r")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "#SBATCH --nodes=3" in proc.stdout and "--nnodes=3" in proc.stdout


FAKE_BLAUNCH = """#!/bin/bash
# stand-in for LSF's blaunch -z "HOSTS" COMMAND...: COMMAND once per host (all of them this machine), signals
# passed on to every copy, the worst exit status returned
[ "$1" = "-z" ] || { echo "blaunch stand-in: expected -z HOSTS" >&2; exit 2; }
hosts=$2; shift 2
pids=()
for host in $hosts; do "$@" & pids+=($!); done
trap 'kill -TERM "${pids[@]}" 2>/dev/null' TERM USR1
status=0
for pid in "${pids[@]}"; do
  while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
  wait "$pid"; code=$?; [ "$code" -gt "$status" ] && status=$code
done
exit "$status"
"""


def _job_id_for_port(port: int, index: int = 1) -> int:
    """The LSB_JOBID whose rendezvous port (the script's 20000 + (id * 1009 + index) % 20000) is ``port``."""
    return ((port - 20000 - index) * pow(1009, -1, 20000)) % 20000


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if 20000 <= port < 40000:
            return port


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_lsf_two_node_script_runs_on_two_local_hosts(tmp_path, tiny_recipe):
    overrides = ["launch.nodes=2", *FAST]
    result, text = _script(tmp_path, tiny_recipe, "lsf", overrides)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "blaunch").write_text(FAKE_BLAUNCH)
    (bindir / "blaunch").chmod(0o755)
    port = _free_port()
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", LSB_JOBID=str(_job_id_for_port(port)),
               LSB_JOBINDEX="1", LSB_MCPU_HOSTS="localhost 1 localhost 1", OMP_NUM_THREADS="1",
               PYTHONPATH=str(ROOT))
    env.pop("ROBUSTPERF_TEST_INTERRUPT", None)
    proc = subprocess.run(["bash", result.jobs[0].script], cwd=result.folder, capture_output=True, text=True,
                          timeout=800, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    record = load_record(str(tmp_path / "results"), load_recipe(str(tiny_recipe), overrides).run(0).run_id)
    assert record["status"] == "completed", record["failure_reason"]
    assert record["training"]["world_size"] == 2
    assert record["job"]["scheduler"] == "lsf" and str(record["job"]["job_id"]) == env["LSB_JOBID"]
    assert proc.stdout.count("completed: best subset") == 1  # rank 0 alone logs and writes


def _wait_slurm(job_ids, timeout=600):
    from tests.launchers.test_slurm import _wait_jobs

    _wait_jobs([str(j) for j in job_ids], timeout=timeout)


def _slurm_logs(folder):
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                     for p in sorted(pathlib.Path(folder, "logs").glob("*.out")))


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_nodes_one_on_real_slurm(slurm_cluster, tmp_path, tiny_recipe):
    """``robustperf launch --nodes 1`` on the real one-node cluster: the run completes, as without the option."""
    results = tmp_path / "results"
    args = [sys.executable, "-m", "robustperf", "launch", str(tiny_recipe), "--scheduler", "slurm", "--nodes", "1",
            "--indices", "0", "--results", str(results), "--time-min", "10", "--signal-seconds", "30"]
    for item in FAST:
        args += ["--set", item]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    job_ids = re.findall(r"submitted slurm job (\d+)", proc.stderr)
    assert job_ids, proc.stderr
    _wait_slurm(job_ids)
    run_id = load_recipe(str(tiny_recipe), FAST).run(0).run_id
    record = load_record(str(results), run_id)
    folder = re.search(r"scripts and logs: (\S+)", proc.stderr).group(1)
    assert record is not None and record["status"] == "completed", _slurm_logs(folder)
    assert record["job"]["scheduler"] == "slurm" and str(record["job"]["job_id"]) == job_ids[0]


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_multi_node_script_form_on_real_slurm_with_one_node(slurm_cluster, tmp_path, tiny_recipe):
    """The several-node script (scontrol's first node, srun starting torchrun, the c10d rendezvous), with its
    node count set to the one node this cluster has, runs the real run through sbatch."""
    overrides = ["launch.nodes=2", *FAST]
    result, text = _script(tmp_path, tiny_recipe, "slurm", overrides, timeout_min=10, signal_delay_s=30)
    one = text.replace("#SBATCH --nodes=2", "#SBATCH --nodes=1").replace("srun --nodes=2", "srun --nodes=1") \
        .replace("--nnodes=2", "--nnodes=1")
    assert one.count("=1") > text.count("=1")
    script = pathlib.Path(result.folder) / "one-node.sbatch"
    script.write_text(one)
    proc = subprocess.run(["sbatch", "--parsable", str(script)], cwd=result.folder, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.strip().split(";")[0]
    _wait_slurm([job_id])
    record = load_record(str(tmp_path / "results"), load_recipe(str(tiny_recipe), overrides).run(0).run_id)
    assert record is not None and record["status"] == "completed", _slurm_logs(result.folder)
    assert str(record["job"]["job_id"]) == job_id


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_multi_node_script_form_forwards_the_stop_signal_and_the_chain_resumes(slurm_cluster, tmp_path,
                                                                                tiny_recipe):
    """SLURM's USR1 to the batch shell of the several-node form (shrunk to this cluster's one node) reaches the
    run through srun and torchrun as SIGTERM: it checkpoints and stops (preempted); the chained job resumes it."""
    import time

    overrides = ["launch.nodes=2", *FAST, "training.epochs=6"]
    result, text = _script(tmp_path, tiny_recipe, "slurm", overrides, timeout_min=10, signal_delay_s=30)
    one = text.replace("#SBATCH --nodes=2", "#SBATCH --nodes=1").replace("srun --nodes=2", "srun --nodes=1") \
        .replace("--nnodes=2", "--nnodes=1")
    script = pathlib.Path(result.folder) / "one-node.sbatch"
    script.write_text(one)
    first = subprocess.run(["sbatch", "--parsable", str(script)], cwd=result.folder, capture_output=True,
                           text=True, timeout=60, check=True).stdout.strip().split(";")[0]
    second = subprocess.run(["sbatch", "--parsable", f"--dependency=afterany:{first}", str(script)],
                            cwd=result.folder, capture_output=True, text=True, timeout=60,
                            check=True).stdout.strip().split(";")[0]
    run_id = load_recipe(str(tiny_recipe), overrides).run(0).run_id
    checkpoint = tmp_path / "results" / run_id / "checkpoint-last.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists():
        assert time.monotonic() < deadline, _slurm_logs(result.folder)
        time.sleep(0.2)
    subprocess.run(["scancel", "--signal=USR1", "--batch", first], check=True, timeout=60)
    _wait_slurm([first, second])
    record = load_record(str(tmp_path / "results"), run_id)
    logs = _slurm_logs(result.folder)
    assert record["status"] == "completed" and record["job"]["attempts"] == 2, logs
    first_log = next(pathlib.Path(result.folder, "logs").glob(f"{first}_0.out")).read_text()
    assert "stopped by signal 15" in first_log and "checkpoint saved" in first_log, first_log
    second_log = next(pathlib.Path(result.folder, "logs").glob(f"{second}_0.out")).read_text()
    assert "resuming" in second_log, second_log

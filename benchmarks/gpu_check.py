"""``make gpu-check``: one prepared script a maintainer with a GPU runs once (< 8 minutes on one recent
data-centre GPU); it writes ``gpu-check.json`` and prints (and writes) a Markdown table.

On CUDA it measures, for WRN-28-10 on 3x32x32 inputs:

1. **training throughput** of PGD-10 adversarial training (images/s) at fp32, bf16 and fp16 (autocast; fp16
   with a GradScaler), channels_last off and on, and model FLOP utilisation: analytic training FLOPs per second
   / the device's peak for that precision (:mod:`benchmarks.measurement.peaks`, keyed by the NVML device name;
   fp32 uses the TF32 peak when cuDNN may use TF32, PyTorch's default; unknown devices say so);
2. **energy** (the ``zeus`` meter): the GPU's energy counter against the background power sampler's integral
   over the same window (the training section) and their ratio, and the host's CPU-package and DRAM energy
   (RAPL) measured beside the GPU's over that window (on the CPU smoke run: the host's energy alone);
3. **AutoAttack**: the suite's adapter against ``pyautoattack`` called directly, same model, points, seed and
   batch size: identical robust accuracy and the time ratio (labels are the model's own predictions, so every
   point is attacked even with untrained weights);
4. **inference**: the ``robustperf infer`` scenarios (SingleStream, Offline) at fp32, bf16, fp16 and int8
   (int8 is reported unsupported on CUDA, with the reason);
5. **FLOPs**: the training FLOPs of one PGD-10 step measured by DeepSpeed's profiler (3 x executed forward
   FLOPs) against the analytic count (3 x (steps + 1) x batch x 2 x conv/linear MACs from the layer shapes);
6. **two GPUs** (only when two are visible, else skipped with the reason): DDP throughput, scaling efficiency
   and energy across two GPUs against one (:mod:`benchmarks.gpu_check_ddp`).


Without CUDA (or with ``--smoke``) the same code runs in **smoke mode** on the CPU with a tiny WRN-10-1, a few
steps and points at 16x16, says so in the output, and still writes ``gpu-check.json``: the script cannot rot unnoticed.
The weights are random (nothing here needs a trained model): accuracies are not the point, costs are.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional

# torch and the suite's heavy modules are imported inside the checks: --help must stay instant, as for the CLIs.

BUDGET_SECONDS = 450.0


@dataclass(frozen=True)
class Plan:
    """Sizes of one check (full on a GPU, tiny in smoke mode)."""

    depth: int
    width: int
    size: int
    train_batch: int
    pgd_steps: int
    warmup_steps: int
    timed_steps: int
    aa_version: Any
    aa_n: int
    aa_batch: int
    infer_queries: int
    infer_passes: int
    infer_batch_sizes: tuple
    budget_seconds: float


FULL = Plan(depth=28, width=10, size=32, train_batch=128, pgd_steps=10, warmup_steps=3, timed_steps=10,
            aa_version="standard", aa_n=128, aa_batch=128, infer_queries=1000, infer_passes=10,
            infer_batch_sizes=(256, 1024), budget_seconds=BUDGET_SECONDS)
SMOKE = Plan(depth=10, width=1, size=16, train_batch=8, pgd_steps=2, warmup_steps=1, timed_steps=2,
             aa_version=["apgd-ce"], aa_n=8, aa_batch=8, infer_queries=20, infer_passes=3,
             infer_batch_sizes=(16,), budget_seconds=BUDGET_SECONDS)
EPS, STEP = 8 / 255, 2 / 255
PRECISIONS = ("fp32", "bf16", "fp16")
DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


def analytic_forward_flops(model, input_shape) -> int:
    """2 x MACs of every Conv2d and Linear of one forward of one sample, from the layers' shapes (no profiler)."""
    import torch
    import torch.nn as nn

    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs = (module.in_channels // module.groups) * kh * kw * output.numel()
        else:
            macs = module.in_features * output.numel()
        total[0] += 2 * macs

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was = model.training
    model.eval()
    try:
        p = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=p.device))
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    return int(total[0])


def device_name(device) -> str:
    """The GPU's name as CUDA reports it, else the CPU's model."""
    import torch

    from benchmarks.measurement.hardware import cpu_model

    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model() or "cpu"


def _sync(device):
    from benchmarks.inference.timing import synchronizer

    return synchronizer(device)


def _autocast(device, precision: str) -> Callable[[], Any]:
    import torch

    if precision == "fp32":
        return contextlib.nullcontext
    dtype = getattr(torch, DTYPES[precision])
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def _at_step(model, opt, scaler, attack, autocast, x, y):
    """One PGD adversarial-training step: craft x_adv, then forward/backward/update on it."""
    import torch.nn.functional as F

    x_adv = attack(x, y)
    opt.zero_grad(set_to_none=True)
    with autocast():
        logits = model(x_adv)
    loss = F.cross_entropy(logits.float(), y)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()


def _new_model(plan: Plan, device, channels_last: bool = False):
    import torch

    from benchmarks.models import WideResNet

    torch.manual_seed(0)
    model = WideResNet(depth=plan.depth, width=plan.width, num_classes=10, in_chans=3).to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def check_training(plan: Plan, device, device_name: str, meter) -> Dict[str, Any]:
    import torch

    from benchmarks.attacks import create_attack
    from benchmarks.inference.timing import olympic_mean
    from benchmarks.measurement.energy import host_and_gpu_energy
    from benchmarks.measurement.peaks import SOURCE, device_key, peak_flops

    sync = _sync(device)
    model = _new_model(plan, device)
    forward = analytic_forward_flops(model, (3, plan.size, plan.size))
    step_flops = 3 * (plan.pgd_steps + 1) * plan.train_batch * forward
    tf32 = device.type == "cuda" and bool(torch.backends.cudnn.allow_tf32)
    rows: List[Dict[str, Any]] = []
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(plan.train_batch, 3, plan.size, plan.size, generator=gen)
    y = torch.randint(0, 10, (plan.train_batch,), generator=gen)
    with meter.window("train") as window:
        for precision in PRECISIONS:
            for channels_last in (False, True):
                row: Dict[str, Any] = {"precision": precision, "channels_last": channels_last}
                try:
                    model = _new_model(plan, device, channels_last)
                    fmt = torch.channels_last if channels_last else torch.contiguous_format
                    xb, yb = x.to(device).contiguous(memory_format=fmt), y.to(device)
                    autocast = _autocast(device, precision)
                    attack = create_attack("pgd", model, norm="linf", eps=EPS, steps=plan.pgd_steps, step_size=STEP,
                                           autocast=autocast)
                    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
                    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
                    model.train()
                    for _ in range(plan.warmup_steps):
                        _at_step(model, opt, scaler, attack, autocast, xb, yb)
                    sync()
                    times = []
                    for _ in range(plan.timed_steps):
                        start = time.perf_counter()
                        _at_step(model, opt, scaler, attack, autocast, xb, yb)
                        sync()
                        times.append(time.perf_counter() - start)
                except Exception as err:  # noqa: BLE001 - a precision this device cannot train is reported
                    row.update(status="unsupported", reason=f"{type(err).__name__}: {str(err).splitlines()[0][:300]}")
                    rows.append(row)
                    continue
                step = olympic_mean(times)
                achieved = step_flops / step
                peak_key = "tf32" if precision == "fp32" and tf32 else precision
                peak = peak_flops(device_name, peak_key) if device.type == "cuda" else None
                row.update(status="measured", images_per_s=plan.train_batch / step, step_ms_olympic_mean=1e3 * step,
                           step_ms_raw=[1e3 * t for t in times], achieved_tflops=achieved / 1e12,
                           peak_used=peak_key if peak else None, peak_tflops=peak / 1e12 if peak else None,
                           mfu=achieved / peak if peak else None)
                if peak is None:
                    row["mfu_note"] = ("no peak: smoke mode on the CPU" if device.type != "cuda" else
                                       f"peak unknown for device {device_name!r} ({peak_key}); add it to "
                                       "benchmarks/measurement/peaks.py")
                rows.append(row)
                del model, opt
    energy = host_and_gpu_energy(window, meter)  # the GPU's and, beside it, the host's CPU and DRAM
    return {"model": f"WRN-{plan.depth}-{plan.width}", "input": [3, plan.size, plan.size], "batch": plan.train_batch,
            "pgd_steps": plan.pgd_steps,
            "timed_steps": plan.timed_steps, "analytic_forward_flops": forward, "analytic_step_flops": step_flops,
            "cudnn_allow_tf32": tf32, "device_key": device_key(device_name), "peak_source": SOURCE, "rows": rows,
            "energy": energy}


def check_flops(plan: Plan, device) -> Dict[str, Any]:
    import torch

    from benchmarks.attacks import create_attack
    from benchmarks.measurement import count_forward_flops
    from benchmarks.measurement.flops import TRAIN_FLOPS_PER_FORWARD_FLOP

    model = _new_model(plan, device)
    forward = analytic_forward_flops(model, (3, plan.size, plan.size))
    attack = create_attack("pgd", model, norm="linf", eps=EPS, steps=plan.pgd_steps, step_size=STEP)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler(device.type, enabled=False)
    x = torch.rand(plan.train_batch, 3, plan.size, plan.size, device=device)
    y = torch.randint(0, 10, (plan.train_batch,), device=device)
    model.train()
    executed = count_forward_flops(model, lambda: _at_step(model, opt, scaler, attack, contextlib.nullcontext, x, y))
    measured = TRAIN_FLOPS_PER_FORWARD_FLOP * executed
    analytic = 3 * (plan.pgd_steps + 1) * plan.train_batch * forward
    return {"measured_step_flops": measured, "measured_source": "deepspeed flops profiler, 3 x executed forward",
            "analytic_step_flops": analytic,
            "analytic_source": "3 x (pgd_steps + 1) x batch x 2 x conv/linear MACs from layer shapes",
            "measured_over_analytic": measured / analytic}


def check_autoattack(plan: Plan, device) -> Dict[str, Any]:
    import torch
    from pyautoattack import AutoAttack

    from benchmarks.evaluation import run_autoattack

    sync = _sync(device)
    model = _new_model(plan, device).eval()
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(plan.aa_n, 3, plan.size, plan.size, generator=gen)
    with torch.no_grad():
        y = model(x.to(device)).argmax(1).cpu()  # the model's own labels: every point is attacked
    with tempfile.TemporaryDirectory() as tmp:
        sync()
        start = time.perf_counter()
        ours = run_autoattack(model, x, y, eps=EPS, version=plan.aa_version, seed=0, batch_size=plan.aa_batch,
                              device=device, state_path=os.path.join(tmp, "state.json"))
        sync()
        suite_s = time.perf_counter() - start
    version = plan.aa_version if isinstance(plan.aa_version, str) else "custom"
    kwargs = {} if isinstance(plan.aa_version, str) else {"attacks": list(plan.aa_version)}
    start = time.perf_counter()
    direct = AutoAttack(model, eps=EPS, norm="Linf", version=version, seed=0, device=device, **kwargs)
    _, y_adv = direct.run_standard_evaluation(x, y, batch_size=plan.aa_batch)
    sync()
    direct_s = time.perf_counter() - start
    flags = y_adv.cpu().eq(y)
    return {"version": ours.version, "attacks": ours.attacks, "n": plan.aa_n,
            "suite_robust_accuracy": 100.0 * ours.robust_accuracy,
            "direct_robust_accuracy": 100.0 * float(flags.float().mean()),
            "identical_points": bool(torch.equal(ours.robust_flags.cpu(), flags)), "suite_seconds": suite_s,
            "direct_seconds": direct_s, "time_ratio": suite_s / direct_s,
            "labels": "the model's own clean predictions (random weights; every point attacked)"}


def check_inference(plan: Plan, device, meter) -> Dict[str, Any]:
    import torch

    from benchmarks.inference import InferSettings, benchmark_inference

    model = _new_model(plan, device).eval()
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(max(plan.infer_batch_sizes), 3, plan.size, plan.size, generator=gen)
    settings = InferSettings(precisions=("fp32", "bf16", "fp16", "int8"), batch_sizes=plan.infer_batch_sizes,
                             warmup=10 if device.type == "cuda" else 2, queries=plan.infer_queries,
                             passes=plan.infer_passes, autoattack=None)
    section = benchmark_inference(model, (x, None), x[:64], settings, device=device, meter=meter,
                                  measure_accuracy=False).section
    return {"model": f"WRN-{plan.depth}-{plan.width}", "section": section,
            "code_path": "benchmarks.inference.benchmark_inference (what robustperf infer runs)"}


def _section(name: str, fn, results: Dict[str, Any], started: float, budget: float) -> None:
    elapsed = time.perf_counter() - started
    if elapsed > budget:
        results[name] = {"status": "skipped", "reason": f"time budget {budget:.0f} s spent ({elapsed:.0f} s)"}
        return
    print(f"[gpu-check] {name} ...", file=sys.stderr, flush=True)
    t = time.perf_counter()
    try:
        results[name] = {"status": "measured", **fn()}
    except Exception as err:  # noqa: BLE001 - one broken check must not hide the others
        results[name] = {"status": "failed", "reason": f"{type(err).__name__}: {err}"}
    results[name]["seconds"] = time.perf_counter() - t
    print(f"[gpu-check] {name} done in {results[name]['seconds']:.1f} s ({results[name]['status']})",
          file=sys.stderr, flush=True)


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render(report: Dict[str, Any]) -> str:
    """The Markdown table(s) of a gpu-check report."""
    s = report["sections"]
    mode = report["mode"] + (", " + report["smoke_reason"] if report.get("smoke_reason") else "")
    out = [f"# gpu-check: {report['device_name']} ({mode})",
           "", f"torch {report['torch']}, CUDA {report.get('cuda')}, {report['seconds']:.0f} s", ""]
    train = s.get("training", {})
    if train.get("rows"):
        out += [f"## {train['model']} PGD-{train['pgd_steps']} adversarial training, batch {train['batch']} (measured)",
                "", "| precision | channels_last | images/s | step ms | achieved TFLOP/s | peak TFLOP/s | MFU |",
                "|---|---|---:|---:|---:|---:|---:|"]
        for r in train["rows"]:
            if r["status"] != "measured":
                out.append(f"| {r['precision']} | {r['channels_last']} | {r['status']}: {r.get('reason')} | | | | |")
                continue
            out.append(f"| {r['precision']} | {r['channels_last']} | {r['images_per_s']:.1f} | "
                       f"{r['step_ms_olympic_mean']:.1f} | {r['achieved_tflops']:.3g} | "
                       f"{_fmt(r['peak_tflops'], '.1f')} "
                       f"({r.get('peak_used') or r.get('mfu_note')}) | {_fmt(r['mfu'], '.1%')} |")
        e = train["energy"]
        out += ["", f"Energy ({e['source']}): GPU counter {_fmt(e['gpu_j'], '.1f')} J, sampler "
                    f"{_fmt(e['sampler_j'], '.1f')} J, ratio {_fmt(e['counter_over_sampler'], '.4f')}; host CPU "
                    f"{_fmt(e['host_cpu_j'], '.1f')} J + DRAM {_fmt(e['host_dram_j'], '.1f')} J = "
                    f"{_fmt(e['host_j'], '.1f')} J ({_fmt(e['host_w'], '.1f')} W) beside the GPU's "
                    f"{_fmt(e['gpu_j'], '.1f')} J ({_fmt(e['gpu_w'], '.1f')} W)"
                    + (f" - {e['note']}" if e.get("note") else ""), ""]
    aa = s.get("autoattack", {})
    if aa.get("status") == "measured":
        out += [f"AutoAttack ({aa['version']}, n={aa['n']}): suite {aa['suite_robust_accuracy']:.2f}% vs pyautoattack "
                f"{aa['direct_robust_accuracy']:.2f}%, identical points {aa['identical_points']}, time ratio "
                f"{aa['time_ratio']:.3f}", ""]
    fl = s.get("flops", {})
    if fl.get("status") == "measured":
        out += [f"Training FLOPs of one step: measured {fl['measured_step_flops']:.4g} vs analytic "
                f"{fl['analytic_step_flops']:.4g} (ratio {fl['measured_over_analytic']:.4f})", ""]
    inf = (s.get("inference") or {}).get("section")
    if inf:
        out += [f"## inference ({s['inference']['model']}, measured)", "",
                "| precision | SingleStream p50 ms | p99 ms | Offline images/s | batch | J/image |",
                "|---|---:|---:|---:|---:|---:|"]
        for name, e in inf.items():
            if name == "setup":
                continue
            if e.get("status") != "measured":
                out.append(f"| {name} | {e.get('status')}: {e.get('reason')} | | | | |")
                continue
            ss, off = e["SingleStream"], e["Offline"]
            out.append(f"| {name} | {ss['latency_ms_p50']:.3f} | {ss['latency_ms_p99']:.3f} | "
                       f"{off['images_per_s']:.1f} | "
                       f"{off['batch_size']} | {_fmt(off['energy_j_per_image'], '.5f')} |")
    from .gpu_check_ddp import SECTION, render_lines

    out += render_lines(s.get(SECTION, {}))
    for name, sec in s.items():
        if sec.get("status") in ("failed", "skipped"):
            out.append(f"\n{name}: {sec['status']}: {sec['reason']}")
    return "\n".join(out) + "\n"


def run_check(smoke: Optional[bool] = None, budget: Optional[float] = None) -> Dict[str, Any]:
    import torch

    from benchmarks.measurement import EnergyMeter
    from recipes import MeasurementConfig

    cuda = torch.cuda.is_available()
    smoke_reason = None
    if smoke is None:
        smoke = not cuda
    if smoke:
        smoke_reason = ("SMOKE MODE: no CUDA device, tiny WRN-10-1 at 16x16 on the CPU; these are not GPU figures"
                        if not cuda else "SMOKE MODE (--smoke): tiny WRN-10-1 at 16x16; these are not the GPU figures")
    plan = SMOKE if smoke else FULL
    device = torch.device("cuda" if cuda and not smoke else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    name = device_name(device)
    started = time.perf_counter()
    budget = plan.budget_seconds if budget is None else budget
    report: Dict[str, Any] = {"mode": "smoke" if smoke else "gpu", "smoke_reason": smoke_reason, "device": str(device),
                              "device_name": name, "torch": torch.__version__, "cuda": torch.version.cuda,
                              "threads": torch.get_num_threads(), "plan": asdict(plan),
                              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sections": {}}
    sections = report["sections"]
    with EnergyMeter(MeasurementConfig(), [device.index or 0] if device.type == "cuda" else []) as meter:
        _section("training", lambda: check_training(plan, device, name, meter), sections, started, budget)
        _section("flops", lambda: check_flops(plan, device), sections, started, budget)
        _section("autoattack", lambda: check_autoattack(plan, device), sections, started, budget)
        _section("inference", lambda: check_inference(plan, device, meter), sections, started, budget)
    from .gpu_check_ddp import SECTION, check_two_gpus, skip_reason

    reason = skip_reason(device)  # 6. DDP across two GPUs (benchmarks.gpu_check_ddp), when there are two
    if reason:
        sections[SECTION] = {"status": "skipped", "reason": reason}
    else:
        _section(SECTION, lambda: check_two_gpus(asdict(plan)), sections, started, budget)
    report["seconds"] = time.perf_counter() - started
    return report


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="gpu-check.json", help="JSON report (default: %(default)s)")
    parser.add_argument("--table", default=None, help="Markdown table (default: the JSON path with .md)")
    parser.add_argument("--smoke", action="store_true", help="smoke mode even when CUDA is present")
    parser.add_argument("--budget", type=float, default=None,
                        help=f"seconds after which remaining checks are skipped (default {BUDGET_SECONDS:.0f})")
    args = parser.parse_args(argv)
    from results.io import atomic_write_text

    report = run_check(smoke=True if args.smoke else None, budget=args.budget)
    table = render(report)
    atomic_write_text(args.out, json.dumps(report, indent=2, default=str) + "\n")
    table_path = args.table or os.path.splitext(args.out)[0] + ".md"
    atomic_write_text(table_path, table)
    print(table)
    if report["smoke_reason"]:
        print(report["smoke_reason"], file=sys.stderr)
    print(f"written: {args.out}, {table_path}", file=sys.stderr)
    failed = [k for k, v in report["sections"].items() if v.get("status") == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

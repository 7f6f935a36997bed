"""The built-in benchmarks: one entry per definition file of this folder (``<id>.yaml``), registered in setup.cfg
under ``robustperf.benchmarks``. The facts (dataset, threat model, target, rules) are in the YAML files; their
comments justify each target from published numbers."""
from recipes.entries import BenchmarkEntry

_P = "recipes.benchmarks"

CIFAR10_LINF_8 = BenchmarkEntry(
    name="cifar10-linf-8", impl=f"{_P}:cifar10-linf-8.yaml",
    doc="CIFAR-10, Linf eps 8/255, WideResNet-28-10: 44 % robust accuracy (PGD-10, held-out)")
CIFAR10_L2_05 = BenchmarkEntry(
    name="cifar10-l2-0.5", impl=f"{_P}:cifar10-l2-0.5.yaml",
    doc="CIFAR-10, L2 eps 0.5, PreAct ResNet-18: 65 % robust accuracy (PGD-10, held-out)")
CIFAR100_LINF_8 = BenchmarkEntry(
    name="cifar100-linf-8", impl=f"{_P}:cifar100-linf-8.yaml",
    doc="CIFAR-100, Linf eps 8/255, PreAct ResNet-18: 25 % robust accuracy (PGD-10, held-out)")
IMAGENET_LINF_4 = BenchmarkEntry(
    name="imagenet-linf-4", impl=f"{_P}:imagenet-linf-4.yaml",
    doc="ImageNet (image folder), Linf eps 4/255, ResNet-50: 28 % robust accuracy (PGD-10, held-out)")
DIGITS_LINF_02 = BenchmarkEntry(
    name="digits-linf-0.2", impl=f"{_P}:digits-linf-0.2.yaml",
    doc="scikit-learn digits, Linf eps 0.2, WideResNet-10-1: runs in minutes on a CPU (the demo's benchmark)")

"""The built-in datasets (``data.name``), declared once: name, code, classes, image size, what the recipe must give.

Torch-free (see :mod:`recipes.catalog`); registered under the ``robustperf.datasets`` entry-point group in the
project's ``setup.cfg``. ``reads``: the ``data.*`` keys that make a run's data what it is beyond the name, and so
enter its id: an image folder is the dataset at ``data.root``, while a standard dataset is the same wherever it
lies (its ``data.root`` is only where to read it).
"""
from recipes.catalog import DatasetEntry

_D = "benchmarks.datasets"

DIGITS = DatasetEntry(
    name="digits", impl=f"{_D}.digits:Digits", doc="scikit-learn's 8x8 digits, embedded (1,437 train / 360 test)",
    num_classes=10, image_size=8, channels=1, needs_root=False)
CIFAR10 = DatasetEntry(
    name="cifar10", impl=f"{_D}.cifar:Cifar10", doc="CIFAR-10, python batches (cifar-10-batches-py)",
    num_classes=10, image_size=32, url="https://www.cs.toronto.edu/~kriz/cifar.html")
CIFAR100 = DatasetEntry(
    name="cifar100", impl=f"{_D}.cifar:Cifar100", doc="CIFAR-100, python batches (cifar-100-python)",
    num_classes=100, image_size=32, url="https://www.cs.toronto.edu/~kriz/cifar.html")
TINYIMAGENET = DatasetEntry(
    name="tinyimagenet", impl=f"{_D}.folders:TinyImageNet", doc="Tiny ImageNet (tiny-imagenet-200), streamed",
    num_classes=200, image_size=64, streamed=True, url="http://cs231n.stanford.edu/tiny-imagenet-200.zip")
IMAGEFOLDER = DatasetEntry(
    name="imagefolder", impl=f"{_D}.folders:ImageFolder", doc="train/ and val/ class folders of images, streamed",
    image_size=224, streamed=True, reads=("data.root",))

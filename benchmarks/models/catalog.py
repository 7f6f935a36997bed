"""The built-in model families (``model.arch``), declared once: name, code, keys read, run-name keys.

Torch-free (see :mod:`recipes.catalog`); registered under the ``robustperf.models`` entry-point group in the
project's ``setup.cfg``. ``reads`` lists the ``model.*`` keys a family reads beyond ``arch`` and ``drop_rate``
(which every family reads); they enter the ids of its runs. ``timm`` is the fallback: any arch no family is named
after is a timm model name.
"""
from recipes.catalog import ModelEntry

_WRN = ("model.depth", "model.width", "model.activation")
_F = "benchmarks.models"

WRN = ModelEntry(
    name="wrn", impl=f"{_F}.timm_families:WideResNetFamily",
    doc="CIFAR WideResNet WRN-depth-width (Zagoruyko 2016)",
    reads=_WRN, name_keys=("model.depth", "model.width"))
CIFAR_RESNET18 = ModelEntry(
    name="cifar_resnet18", impl=f"{_F}.timm_families:CifarResNet18",
    doc="ResNet-18 for 32x32 images (RobustBench)",
    reads=("model.activation",))
PREACT_RESNET18 = ModelEntry(
    name="preact_resnet18", impl=f"{_F}.timm_families:PreActResNet18",
    doc="pre-activation ResNet-18 for 32x32 images (RobustBench)", reads=("model.activation",))
VIT_CIFAR_S = ModelEntry(
    name="vit_cifar_s", impl=f"{_F}.timm_families:VitCifarS", doc="a small ViT for 32x32 images (patch 4)")
SDN_VGG16 = ModelEntry(
    name="sdn_vgg16", impl=f"{_F}.sdn:SDNVGG16", doc="Shallow-Deep Network on VGG-16 (multi-exit)",
    multi_exit=True)
SDN_RESNET56 = ModelEntry(
    name="sdn_resnet56", impl=f"{_F}.sdn:SDNResNet56", doc="Shallow-Deep Network on ResNet-56 (multi-exit)",
    multi_exit=True)
SDN_MOBILENET = ModelEntry(
    name="sdn_mobilenet", impl=f"{_F}.sdn:SDNMobileNet", doc="Shallow-Deep Network on MobileNet (multi-exit)",
    multi_exit=True)
SDN_WRN = ModelEntry(
    name="sdn_wrn", impl=f"{_F}.sdn:SDNWideResNet", doc="Shallow-Deep Network on a WideResNet (multi-exit)",
    reads=_WRN, name_keys=("model.depth", "model.width"), multi_exit=True)
TIMM = ModelEntry(
    name="timm", impl=f"{_F}.timm_families:TimmFamily", doc="any timm model name (input normalised; model.input_size "
    "resizes inside the model)", reads=("model.input_size",), fallback=True)
MSDNET = ModelEntry(
    name="msdnet", impl=f"{_F}.msdnet:MSDNetFamily",
    doc="MSDNet (Huang 2018): multi-scale dense network, 6 exits on the coarsest scale (DeepSloth's; multi-exit)",
    multi_exit=True)

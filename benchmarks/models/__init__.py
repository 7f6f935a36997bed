"""Models of the benchmark: CIFAR WideResNets registered with timm, and the factory the runs build from.

Importing this package registers ``wrn{depth}_{width}`` (``wrn28_10``, ``wrn70_16``, ...) with timm, so
``timm.create_model("wrn28_10", activation="gelu", num_classes=10)`` works afterwards.
"""
from .outputs import FinalLogits, all_logits, final_logits
from ._factory import NormalizedModel, create_model, model_name, model_spec
from .wide_resnet import ACTIVATIONS, SIZES, WideResNet
from . import sdn  # noqa: F401,E402 - registers the sdn_* families

__all__ = ["ACTIVATIONS", "SIZES", "FinalLogits", "NormalizedModel", "WideResNet", "all_logits", "create_model",
           "final_logits", "model_name", "model_spec"]

"""Models of the benchmark: CIFAR WideResNets registered with timm, and the factory the runs build from.

Importing this package registers ``wrn{depth}_{width}`` (``wrn28_10``, ``wrn70_16``, ...) with timm, so
``timm.create_model("wrn28_10", activation="gelu", num_classes=10)`` works afterwards.
"""
from .._lazy import lazy

__getattr__, __all__ = lazy(__name__, {
    "FinalLogits": ".outputs", "all_logits": ".outputs", "final_logits": ".outputs",
    "NormalizedModel": "._factory", "create_model": "._factory", "model_name": "._factory",
    "model_spec": "._factory",
    "ACTIVATIONS": ".wide_resnet", "SIZES": ".wide_resnet", "WideResNet": ".wide_resnet",
})

"""Models of the benchmark: the model families ``model.arch`` names, the networks they build, and the factory.

* :mod:`.families` - :class:`~.families.ModelFamily`, the plug-in (entries in :mod:`.catalog`);
* :mod:`.factory` - :func:`create_model` / :func:`model_spec`: a run's network from its ``model`` section;
* :mod:`.timm_families` - the families built through timm (``wrn``, the CIFAR ResNets, the small ViT, any timm
  name), :mod:`.timm_registry` - the suite's networks under timm names (:func:`register_timm_models`);
* :mod:`.wide_resnet`, :mod:`.resnet_cifar`, :mod:`.vit_cifar` - the networks; :mod:`.sdn` - multi-exit
  Shallow-Deep Networks and their families;
* :mod:`.outputs` - one logits tensor or one per exit (:func:`final_logits`, :func:`all_logits`).

timm knows the suite's networks (``wrn28_10``, ...) once :func:`register_timm_models` has run; the families call it,
so ``timm.create_model("wrn28_10", activation="gelu", num_classes=10)`` needs it only outside them. Importing this
package is cheap: the networks (torch, timm) load on first use of a name below.
"""
from robustperf_lazy import lazy

__getattr__, __all__ = lazy(__name__, {
    "FinalLogits": ".outputs", "all_logits": ".outputs", "final_logits": ".outputs",
    "create_model": ".factory", "model_name": ".factory", "model_spec": ".factory",
    "NormalizedModel": ".timm_families", "register_timm_models": ".timm_registry",
    "ACTIVATIONS": ".wide_resnet", "SIZES": ".wide_resnet", "WideResNet": ".wide_resnet",
})

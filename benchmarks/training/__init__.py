"""Adversarial training: the loop (:class:`Trainer`) and its parts, its checkpoints and the process group.

* :mod:`.trainer` - :class:`Trainer`: epochs, steps, optimizer steps, state, the ``best`` choice;
* :mod:`.methods` - the training methods (``training.loss`` plug-ins);
* :mod:`.batches` - the training batch stream and the check's held-out images;
* :mod:`.optimizer` - timm's optimizer and schedule from ``training.*``;
* :mod:`.precision` - autocast and the fp16 gradient scaler;
* :mod:`.step_flops` - FLOP accounting per step shape;
* :mod:`.check` - the per-epoch check (``training.select_attack``);
* :mod:`.hooks`, :mod:`.errors` - where the run plugs in, and how training stops;
* :mod:`.checkpoint`, :mod:`.distributed` - checkpoint files, the process group.
"""
from robustperf_lazy import lazy

__getattr__, __all__ = lazy(__name__, {
    "BEST": ".checkpoint", "LAST": ".checkpoint", "checkpoint_path": ".checkpoint",
    "load_checkpoint": ".checkpoint", "save_checkpoint": ".checkpoint",
    "DistInfo": ".distributed", "init_distributed": ".distributed",
    "CHECKPOINT_FORMAT": ".trainer", "Trainer": ".trainer",
    "Diverged": ".errors", "ResumeError": ".errors", "Stopped": ".errors",
    "TrainHooks": ".hooks", "autocast_factory": ".precision", "evaluate_subset": ".check",
})

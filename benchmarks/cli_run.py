"""``robustperf run RECIPE --index N``: train (or resume) one run of the matrix and write its result record.

Exit codes: 0 completed (or already completed; or re-evaluated / re-priced), 1 unexpected error (record failed,
traceback), 2 user mistake such as a missing dataset (record failed), 3 the training diverged (record failed),
128 + the signal number (143 for SIGTERM, 138 for SIGUSR1) stopped by that signal after a checkpoint (record
preempted: run the same command again to resume), 75 another live process runs this run (its lock
``DIR/<run_id>/run.lock`` is held; nothing was changed: the run is in flight).
Under ``torchrun --nproc_per_node K robustperf run ...`` the run trains with DistributedDataParallel.
"""
from __future__ import annotations

HELP = "train one run of a recipe's matrix (resumes from its checkpoint; skips a completed run)"


def add_arguments(parser) -> None:
    parser.add_argument("recipe", help="recipe YAML file")
    parser.add_argument("--index", type=int, required=True, help="run index in the matrix (robustperf expand)")
    parser.add_argument("--results", default=None, metavar="DIR",
                        help="results folder (default: the recipe's launch.results)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, e.g. --set training.epochs=1 (repeatable)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available")
    parser.add_argument("--checkpoint-steps", type=int, default=0, metavar="N",
                        help="also checkpoint every N steps inside an epoch (default 0: at epoch ends only)")
    parser.add_argument("--checkpoint-minutes", type=float, default=10.0, metavar="M",
                        help="also checkpoint when M minutes passed since the last checkpoint (default 10; 0 = off; "
                             "finite, at most a year)")
    parser.add_argument("--no-eval", dest="evaluate", action="store_false",
                        help="skip the final evaluation (accuracy.* stay null)")
    parser.add_argument("--no-flops", dest="count_flops", action="store_false",
                        help="skip counting FLOPs with DeepSpeed (flops.* stay null)")
    parser.add_argument("--restart", action="store_true",
                        help="move a damaged record or checkpoint aside (*.damaged-<time>) and start the run over, or "
                             "continue from the checkpoint that is intact")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_const", const=True, default=None,
                          help="tqdm progress bars (default: when stderr is a terminal)")
    progress.add_argument("--no-progress", dest="progress", action="store_const", const=False,
                          help="one line per epoch (cluster logs)")


def main(args) -> int:
    from recipes import load_recipe
    from recipes.errors import RecipeError

    from .run import execute

    import math

    from recipes.bounds import MINUTES, STEPS
    from recipes.files import check_output_folder

    # finite and bounded: NaN compared false everywhere and silently switched checkpointing off
    if not 0 <= args.checkpoint_steps <= STEPS:
        raise RecipeError(f"--checkpoint-steps must be from 0 (off) to {STEPS:,}", file="<command line>",
                          value=args.checkpoint_steps)
    if not (math.isfinite(args.checkpoint_minutes) and 0 <= args.checkpoint_minutes <= MINUTES):
        raise RecipeError(f"--checkpoint-minutes must be a finite number from 0 (off) to {MINUTES:,} (a year)",
                          file="<command line>", value=args.checkpoint_minutes)
    recipe = load_recipe(args.recipe, args.overrides)
    spec = recipe.run(args.index)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise RecipeError("no CUDA device is visible on this node (torch.cuda.is_available() is False); "
                              "run on a GPU node, or use --device cpu", file="--device", value="cuda")
    results = args.results or recipe.launch.results
    check_output_folder(results, "results directory", error=lambda reason: RecipeError(reason, file=results))
    return execute(spec, results, recipe_name=recipe.name, checkpoint_steps=args.checkpoint_steps,
                   checkpoint_seconds=args.checkpoint_minutes * 60.0, device=args.device, progress=args.progress,
                   evaluate=args.evaluate, count_flops=args.count_flops, restart=args.restart)

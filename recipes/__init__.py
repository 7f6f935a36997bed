"""Recipes: the typed schema of a run, YAML loading and the expansion of a recipe into its run matrix."""
from .errors import RecipeError, UserError
from .recipe import Recipe, RunSpec, expand, identity_json, load_recipe, recipe_from_dict, run_id_of, run_name
from .schema import (SECTIONS, AttackConfig, DataConfig, EvaluationConfig, LaunchConfig, MeasurementConfig,
                     ModelConfig, RunConfig, TrackingConfig, TrainingConfig, all_paths, parse_fraction)

__all__ = [
    "RecipeError", "UserError", "Recipe", "RunSpec", "expand", "identity_json", "load_recipe", "recipe_from_dict",
    "run_id_of", "run_name", "SECTIONS", "AttackConfig", "DataConfig", "EvaluationConfig", "LaunchConfig",
    "MeasurementConfig", "ModelConfig", "RunConfig", "TrackingConfig", "TrainingConfig", "all_paths",
    "parse_fraction",
]

"""Recipes: what a run is - the plug-in catalog, the typed schema of a run, its identity and name, YAML loading
and the expansion of a recipe into its run matrix. Torch-free: the lowest room, imported by every other.

The names other rooms use are re-exported here; each lives in one module (``recipes.catalog``,
``recipes.schema``, ``recipes.identity``, ...).
"""
from .checks import AUTOATTACK_ATTACKS, AUTOATTACK_VERSIONS, DEFAULT_CLOUD_PRICES, DEFAULT_DEVICE_TABLE
from .errors import RecipeError, UserError
from .expand import expand
from .fields import parse_fraction, validate_value
from .identity import applies, identity_json, identity_of, run_id_of
from .loading import parse_yaml
from .matrix import apply_patch, copy_config
from .naming import method_name_part, run_name
from .recipe import SET_SOURCE, Recipe, load_recipe, recipe_from_dict
from .rules import check_run
from .schema import RunConfig, all_paths, section_fields, validate_section
from .sections import (SECTIONS, AttackConfig, DataConfig, EvaluationConfig, LaunchConfig, MeasurementConfig,
                       ModelConfig, TrackingConfig, TrainingConfig)
from .slowdown import SlowdownConfig, slowdown_config
from .spec import RunSpec

__all__ = [
    "AUTOATTACK_ATTACKS", "AUTOATTACK_VERSIONS", "DEFAULT_CLOUD_PRICES", "DEFAULT_DEVICE_TABLE", "RecipeError",
    "UserError", "expand", "parse_fraction", "validate_value", "applies", "identity_json", "identity_of",
    "run_id_of", "parse_yaml", "apply_patch", "copy_config", "method_name_part", "run_name", "SET_SOURCE",
    "Recipe", "load_recipe", "recipe_from_dict", "check_run", "RunConfig", "all_paths", "section_fields",
    "validate_section", "SECTIONS", "AttackConfig", "DataConfig", "EvaluationConfig", "LaunchConfig",
    "MeasurementConfig", "ModelConfig", "TrackingConfig", "TrainingConfig", "SlowdownConfig", "slowdown_config",
    "RunSpec",
]

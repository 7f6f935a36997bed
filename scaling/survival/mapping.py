"""The ``survival`` settings of a mapping file: which columns are the survival data, and how to fit them."""
from __future__ import annotations

import ast
import dataclasses
import inspect
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ..errors import SurvivalError

#: family name -> (lifelines class name, log-scale parameter, ancillary parameter)
FAMILIES: Dict[str, Tuple[str, str, str]] = {
    "weibull": ("WeibullAFTFitter", "lambda_", "rho_"),
    "lognormal": ("LogNormalAFTFitter", "mu_", "sigma_"),
    "loglogistic": ("LogLogisticAFTFitter", "alpha_", "beta_"),
}
CRITERIA = ("bic", "aic", "concordance_test", "ici")
LEVELS = ("sample", "trial")


@dataclass(frozen=True)
class SurvivalMapping:
    """Which columns are the survival data, and how to fit them.

    ``covariates=None`` takes the design covariates (:data:`DESIGN_COVARIATES`) present in the table and not
    constant; ``outcomes=True`` adds the paper's outcome covariates (:data:`OUTCOME_COVARIATES`); both in
    :mod:`scaling.survival.fields`.
    """

    duration: Optional[str] = None
    """time-to-failure (or censoring) column, >= 0, one unit; null (default): attack_flops (FLOPs to failure), else
    attack_passes, else seconds (wall clock, machine-dependent), the first every fitted row has (noted)"""
    event: str = "event"
    """1/True when the point failed within the budget, 0/False when censored"""
    covariates: Optional[Tuple[str, ...]] = None
    """covariate columns; strings and booleans become dummies (first sorted level is the reference)"""
    outcomes: bool = False
    """add the outcome covariates (clean accuracy, training time, inference latency)"""
    level: str = "sample"
    """'sample': one subject per attacked point; 'trial': one per run (paper-faithful)"""
    run: str = "run_id"
    """column naming the run a row belongs to (trial level, TRASH)"""
    config: Optional[str] = None
    """keep only rows of this attack configuration (the 'config' column, e.g. 'pgd-40'); None: all"""
    t0: Optional[float] = None
    """calibration horizon, in the duration's unit; None: the median observed duration"""
    test_fraction: float = 0.25
    """held-out fraction of the seeded split"""
    seed: int = 0
    """seed of the split and the calibration subsample"""
    penalizer: float = 0.0
    """L2 penalty on the coefficients (lifelines' penalizer, l1_ratio 0)"""
    families: Tuple[str, ...] = tuple(FAMILIES)
    """AFT families to fit"""
    criterion: str = "bic"
    """how survival.best is chosen: bic, aic (smallest), concordance_test (largest), ici (smallest)"""
    by: Optional[str] = None
    """covariate whose levels (or quartiles) get their own survival curve; None: the first covariate"""

    KEYS = ("duration", "event", "covariates", "outcomes", "level", "run", "config", "t0", "test_fraction",
            "seed", "penalizer", "families", "criterion", "by")

    @classmethod
    def from_dict(cls, data: Any, source: str = "<mapping>") -> "SurvivalMapping":
        """Validate a ``survival:`` mapping section; errors name the file, key and value."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise SurvivalError(f"{source}: survival must be a mapping of {', '.join(cls.KEYS)}; got {data!r}")
        unknown = [k for k in data if k not in cls.KEYS]
        if unknown:
            raise SurvivalError(f"{source}: survival.{unknown[0]} is not a key; allowed: {', '.join(cls.KEYS)}")
        out: Dict[str, Any] = {}
        for key, value in data.items():
            where = f"{source}: survival.{key} = {value!r}"
            if key in ("duration", "event", "run") and not (isinstance(value, str) and value) \
                    and not (key == "duration" and value is None):
                raise SurvivalError(f"{where}: expected a column name" + (" or null (the default duration)"
                                                                         if key == "duration" else ""))
            if key in ("config", "by") and value is not None and not isinstance(value, str):
                raise SurvivalError(f"{where}: expected a column name / value or null")
            if key in ("covariates", "families") and value is not None:
                if isinstance(value, str):
                    value = [value]
                if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                    raise SurvivalError(f"{where}: expected a list of names")
                value = tuple(value)
                if key == "families":
                    bad = [v for v in value if v not in FAMILIES]
                    if bad or not value:
                        raise SurvivalError(f"{where}: families are {', '.join(FAMILIES)}")
            if key == "outcomes" and not isinstance(value, bool):
                raise SurvivalError(f"{where}: expected true or false")
            if key == "level" and value not in LEVELS:
                raise SurvivalError(f"{where}: expected one of {', '.join(LEVELS)}")
            if key == "criterion" and value not in CRITERIA:
                raise SurvivalError(f"{where}: expected one of {', '.join(CRITERIA)}")
            if key in ("t0", "test_fraction", "penalizer") and value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise SurvivalError(f"{where}: expected a number")
                value = float(value)
                if key == "t0" and value <= 0:
                    raise SurvivalError(f"{where}: the horizon must be > 0")
                if key == "test_fraction" and not 0.0 < value < 1.0:
                    raise SurvivalError(f"{where}: expected 0 < test_fraction < 1")
                if key == "penalizer" and value < 0:
                    raise SurvivalError(f"{where}: expected >= 0")
            if key == "seed" and (isinstance(value, bool) or not isinstance(value, int)):
                raise SurvivalError(f"{where}: expected an integer")
            out[key] = value
        return cls(**out)


def mapping_fields() -> List[Tuple[str, str, Any]]:
    """(key, doc, default) of every mapping key: the survival section's option_keys (and so its documentation)."""
    docs = {}
    source = inspect.getsource(SurvivalMapping)
    tree = ast.parse(source)
    body = tree.body[0].body
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and i + 1 < len(body) and isinstance(body[i + 1], ast.Expr):
            docs[node.target.id] = str(body[i + 1].value.value)
    return [(f.name, docs.get(f.name, ""), f.default) for f in dataclasses.fields(SurvivalMapping)]

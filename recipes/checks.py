"""Checks of the recipe values that are more than a number or a name: AutoAttack's version or attack list, the
cloud price table and the device table, with the defaults they are checked against.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

from .bounds import IMAGES
from .errors import RecipeError, nearest

__all__ = ["AUTOATTACK_VERSIONS", "AUTOATTACK_ATTACKS", "DEFAULT_CLOUD_PRICES", "DEFAULT_DEVICE_TABLE", "DEVICE_KEYS",
           "check_autoattack", "check_prices", "check_devices", "check_train_size"]

AUTOATTACK_VERSIONS = ("standard", "plus", "rand")
AUTOATTACK_ATTACKS = ("apgd-ce", "apgd-t", "fab", "fab-t", "square", "apgd-dlr")
DEFAULT_CLOUD_PRICES = {
    # On-demand $/GPU-hour, low (spot / cheapest large provider) and high (major cloud list price).
    "H100": [2.0, 12.3], "H200": [3.5, 13.0], "A100": [1.2, 4.1], "V100": [0.5, 3.1],
    "cpu": [0.02, 0.05],
}

#: Per device model: rental price ($ per device-hour) and board power (W), for the cost-aware survival
#: analysis (TRASH in $ and energy: $/h x hours, W x s -> J). Defaults: Meyers et al., Table 1 (GCP
#: europe-west4 on-demand prices retrieved 3 Dec 2023; Nvidia datasheet power).
DEFAULT_DEVICE_TABLE = {
    "V100": {"usd_per_hour": 2.55, "watts": 250.0},
    "P100": {"usd_per_hour": 1.60, "watts": 250.0},
    "L4": {"usd_per_hour": 0.81, "watts": 72.0},
}
DEVICE_KEYS = ("usd_per_hour", "watts")



def check_autoattack(path: str, value: Any, file: Optional[str]) -> Any:
    if isinstance(value, str):
        if value in AUTOATTACK_ATTACKS:
            raise RecipeError(f"one attack is a list of one, [{value}]; a single name is an AutoAttack version",
                              file=file, key=path, value=value, allowed=AUTOATTACK_VERSIONS + (f"[{value}]",))
        if value not in AUTOATTACK_VERSIONS:
            hint = nearest(value, AUTOATTACK_VERSIONS + AUTOATTACK_ATTACKS)
            raise RecipeError("not an AutoAttack version" + (f" (did you mean '{hint}'?)" if hint else ""),
                              file=file, key=path, value=value, allowed=AUTOATTACK_VERSIONS + ("a list of attacks",))
        return value
    if isinstance(value, (list, tuple)) and value:
        for item in value:
            if item not in AUTOATTACK_ATTACKS:
                raise RecipeError("not an AutoAttack attack", file=file, key=path, value=item,
                                  allowed=AUTOATTACK_ATTACKS)
        if len(set(value)) != len(value):
            raise RecipeError("an attack is listed twice", file=file, key=path, value=list(value))
        return list(value)
    raise RecipeError("expected an AutoAttack version or a non-empty list of attacks", file=file, key=path,
                      value=value, allowed=AUTOATTACK_VERSIONS)


def check_train_size(path: str, value: Any, file: Optional[str]) -> Any:
    """``data.train_size``: a count (an int >= 1) or a fraction in (0, 1] of the training split."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RecipeError("expected a count of training images (an integer >= 1) or a fraction in (0, 1]",
                          file=file, key=path, value=value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and value > 1):
        if not 1 <= value <= IMAGES:
            raise RecipeError(f"expected a count in [1, {IMAGES:,}] or a fraction in (0, 1]", file=file, key=path,
                              value=value)
        return int(value)
    if not 0.0 < value <= 1.0:
        raise RecipeError("expected a fraction in (0, 1] of the training split (or a count >= 1)", file=file,
                          key=path, value=value)
    return float(value)


def check_prices(path: str, value: Any, file: Optional[str]) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise RecipeError("expected a mapping of device model to [low, high] $/hour", file=file, key=path,
                          value=value)
    out = {}
    for model, pair in value.items():
        ok = (isinstance(model, str) and isinstance(pair, (list, tuple)) and len(pair) == 2
              and all(isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p) and p >= 0
                      for p in pair) and pair[0] <= pair[1])
        if not ok:
            raise RecipeError("expected [low, high] with 0 <= low <= high", file=file, key=f"{path}.{model}",
                              value=pair)
        out[model] = [float(pair[0]), float(pair[1])]
    return out


def check_devices(path: str, value: Any, file: Optional[str]) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise RecipeError("expected a mapping of device model to {usd_per_hour: $/h, watts: W}", file=file,
                          key=path, value=value)
    out = {}
    for model, entry in value.items():
        where = f"{path}.{model}"
        if not isinstance(model, str) or not model or not isinstance(entry, dict):
            raise RecipeError("expected {usd_per_hour: $ per device-hour, watts: W}", file=file, key=where,
                              value=entry)
        for key in entry:
            if key not in DEVICE_KEYS:
                raise RecipeError("unknown key", file=file, key=f"{where}.{key}", allowed=DEVICE_KEYS)
        checked = {}
        for key in DEVICE_KEYS:
            number = entry.get(key)
            if number is None:
                checked[key] = None
                continue
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) \
                    or number < 0:
                raise RecipeError("expected a number >= 0" + (" ($ per device-hour)" if key == "usd_per_hour"
                                                              else " (watts)"), file=file, key=f"{where}.{key}",
                                  value=number)
            checked[key] = float(number)
        out[model] = checked
    return out


#: the keys of model.pretraining and data.synthetic_cost: amounts (finite numbers >= 0) and their source (text)
PRETRAINING_KEYS = ("flops", "kwh", "device_hours")
SYNTHETIC_COST_KEYS = ("flops_per_image", "kwh_per_image", "device_hours_per_image")
_SOURCE_CHARS = 1000


def _check_cost(path: str, value: Any, file: Optional[str], amounts) -> Dict[str, Any]:
    valid = ", ".join(amounts + ("source",))
    if not isinstance(value, dict) or not value:
        raise RecipeError(f"expected a mapping of some of: {valid}", file=file, key=path, value=value)
    out: Dict[str, Any] = {}
    for key, item in value.items():
        where = f"{path}.{key}"
        if key == "source":
            if not isinstance(item, str) or not item.strip() or len(item) > _SOURCE_CHARS:
                raise RecipeError(f"expected where the figures come from (text, at most {_SOURCE_CHARS} characters)",
                                  file=file, key=where, value=item)
            out[key] = item
        elif key in amounts:
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item) or item < 0:
                raise RecipeError("expected a finite number >= 0", file=file, key=where, value=item)
            out[key] = float(item)
        else:
            raise RecipeError(f"unknown key; valid: {valid}", file=file, key=where, value=item)
    return out


def check_pretraining(path: str, value: Any, file: Optional[str]) -> Dict[str, Any]:
    """``model.pretraining``: ``{flops, kwh, device_hours, source}``, any subset."""
    return _check_cost(path, value, file, PRETRAINING_KEYS)


def check_synthetic_cost(path: str, value: Any, file: Optional[str]) -> Dict[str, Any]:
    """``data.synthetic_cost``: ``{flops_per_image, kwh_per_image, device_hours_per_image, source}``, any subset."""
    return _check_cost(path, value, file, SYNTHETIC_COST_KEYS)

"""The column mapping of an analysis: which table columns hold the FLOPs, the accuracy, the costs, the factors,
and the settings of each analysis section, from a YAML file (``--mapping``) and the command line.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import yaml

from recipes.files import read_regular
from recipes.limits import limit

from .adapters import check_adapter
from .errors import TableError
from .sections.registry import get_section, list_sections
from .units import settings

#: Value of a column option that switches the column (and its section) off.
NONE = "none"


@dataclass(frozen=True)
class Mapping:
    """Which table columns the analysis reads. ``None`` means our records' default column.

    Each column is a name or a product of names (``train_flops*epochs``); ``"none"`` switches an optional
    section off.
    """

    flops: Optional[str] = None
    """total training FLOPs (any unit; the law's C is in that unit)"""
    acc: Optional[str] = None
    """AutoAttack robust accuracy, percent"""
    cost: Optional[str] = None
    """electricity cost, $"""
    co2: Optional[str] = None
    """emissions, kg CO2eq"""
    kwh: Optional[str] = None
    """energy, kWh"""
    features: Optional[Tuple[str, ...]] = None
    """factors of the gradient-boosting model"""
    facet: Optional[str] = None
    """column splitting the accuracy-vs-FLOPs figures into panels (synthetic data)"""
    group: Optional[Tuple[str, ...]] = None
    """columns identifying a configuration for repeats; None = the config.* columns but the seed (our
    records), else no repeats"""
    usd_per_kwh: Optional[float] = None
    """electricity price, used to turn forecast dollars into kWh when no kWh column is mapped"""
    sections: Optional[Dict[str, Dict[str, Any]]] = None
    """settings of analysis sections by section name (``sections: {name: {key: value}}``); each section
    declares and documents its keys (``Section.option_keys``)"""

    units: Optional[Dict[str, Any]] = None
    """device, utilisation, pricing and CO2-equivalent factors of the pictured forecast costs
    (:mod:`scaling.units`)"""
    time: Optional[str] = None
    """a year/time column: the algorithmic-progress trend of the quantile regressions"""
    adapter: Optional[Dict[str, Any]] = None
    """a table adapter run before the analysis (``{name: robustbench, ...its settings}``, see
    :mod:`scaling.adapters`); relative paths in it are relative to the mapping file"""

    params: Optional[str] = None
    """parameter count N of the joint law (allocation section; default our records' ``params``)"""
    samples: Optional[str] = None
    """training samples seen D of the joint law (allocation section; no default)"""
    error: Optional[str] = None
    """robust error the joint law is fitted to (instead of 100 - acc)"""
    loss: Optional[str] = None
    """robust test loss the joint law is fitted to (instead of an error)"""
    by: Optional[str] = None
    """column whose values split the table into groups: every per-group section is fitted per group and the
    groups' exponents compared (:mod:`scaling.groups`)"""

    KEYS = ("flops", "acc", "cost", "co2", "kwh", "features", "facet", "group", "usd_per_kwh", "sections", "units",
            "time", "adapter", "params", "samples", "error", "loss", "by")

    def merged(self, other: "Mapping") -> "Mapping":
        """This mapping with every field that ``other`` sets replaced (command line over YAML)."""
        changes = {f.name: getattr(other, f.name) for f in dataclasses.fields(other)
                   if getattr(other, f.name) is not None}
        return dataclasses.replace(self, **changes)


def load_mapping(path: str) -> Mapping:
    """Read a mapping YAML (keys as :attr:`Mapping.KEYS`).

    Raises:
        TableError: the file cannot be read (or is not a regular file: a FIFO or /dev/zero would block or never
            end), is larger than a recipe may be, is not YAML, is empty (no keys: an empty file, only comments,
            ``null`` or ``{}``), is not a mapping, or has an unknown key or a bad value (each named).
    """
    if not path or not str(path).strip():
        raise TableError("--mapping: a mapping file is needed, got an empty path (leave --mapping out to use our "
                         "records' columns)")
    try:
        text = read_regular(path, limit("recipe_bytes"), "mapping",
                            error=lambda reason: TableError(f"{path}: {reason}"))
        data = yaml.safe_load(text.decode("utf-8"))
    except OSError as err:
        raise TableError(f"{path}: cannot read the mapping: {err}") from None
    except UnicodeDecodeError as err:
        raise TableError(f"{path}: the mapping is not UTF-8 text (byte {err.start})") from None
    except yaml.YAMLError as err:
        raise TableError(f"{path}: not valid YAML: " + " ".join(str(err).split())) from None
    if data is None or data == {}:  # an empty file, only comments, `null` or `{}`: almost surely the wrong file
        raise TableError(f"{path}: the mapping file is empty (no keys); expected a YAML mapping of "
                         f"{', '.join(Mapping.KEYS)} (leave --mapping out to use our records' columns)")
    if not isinstance(data, dict):
        raise TableError(f"{path}: a mapping file must be a YAML mapping of {', '.join(Mapping.KEYS)}")
    unknown = [k for k in data if k not in Mapping.KEYS]
    if unknown:
        raise TableError(f"{path}: unknown key '{unknown[0]}'; valid keys: {', '.join(Mapping.KEYS)}")
    kwargs: Dict[str, Any] = {}
    for key, value in data.items():
        if key in ("features", "group"):
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TableError(f"{path}: key '{key}' must be a list of column names")
            kwargs[key] = tuple(value)
        elif key == "sections":
            kwargs[key] = _section_settings(path, value)
        elif key == "adapter":
            kwargs[key] = check_adapter(value, path)
        elif key == "units":
            settings(value if isinstance(value, dict) else {"?": value}, f"{path}: units")
            kwargs[key] = dict(value)
        elif key == "usd_per_kwh":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise TableError(f"{path}: key 'usd_per_kwh' must be a positive number, got {value!r}")
            kwargs[key] = float(value)
        else:
            if value is not None and not isinstance(value, str):
                raise TableError(f"{path}: key '{key}' must be a column name or product 'a*b', got {value!r}")
            kwargs[key] = value if value is not None else NONE
    return Mapping(**kwargs)


def _section_settings(path: str, value: Any) -> Dict[str, Dict[str, Any]]:
    """Check ``sections:`` of a mapping file: registered section names, each with the keys it declares."""
    if not isinstance(value, dict):
        raise TableError(f"{path}: key 'sections' must map section names to their settings; sections: "
                         + ", ".join(list_sections()))
    out: Dict[str, Dict[str, Any]] = {}
    for name, settings in value.items():
        if str(name) not in list_sections():
            raise TableError(f"{path}: sections: unknown analysis section '{name}'; registered: "
                             + ", ".join(list_sections()))
        section = get_section(str(name))
        if settings is None:
            settings = {}
        if not isinstance(settings, dict):
            raise TableError(f"{path}: sections.{name} must be a mapping of settings, got {settings!r}")
        allowed = dict(section.option_keys)
        for key in settings:
            if key not in allowed:
                raise TableError(f"{path}: sections.{name}: unknown key '{key}'; valid keys: "
                                 + (", ".join(allowed) or "none"))
        out[str(name)] = dict(settings)
    return out

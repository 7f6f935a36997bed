"""A record read by dotted field paths (``accuracy.autoattack``), and flattened to one dotted column per field
for a table."""
from __future__ import annotations

import json
from typing import Any, Dict


def get(record: Dict[str, Any], dotted: str) -> Any:
    """Value of a dotted field (``accuracy.autoattack``), None when absent."""
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def flatten(record: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Flatten nested objects to dotted columns; lists are kept as JSON text."""
    out: Dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, list):
            out[name] = json.dumps(value)
        else:
            out[name] = value
    return out

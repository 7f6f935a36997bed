"""The hypervolume of a ``robustperf tune`` study and its history over the trials (:mod:`scaling.hypervolume`).

The history gives, after each completed trial (in trial order), the exact hypervolume of the objectives of the
completed trials so far, against one reference point for the whole history: the one given (``robustperf tune
--reference``, kept on the study as the user attribute ``hypervolume_reference``), else the default rule over
every completed trial (worst value of each objective plus 10 % of its range; the history is then recomputed as
trials are added, since the reference moves with the data). Measured objectives; the indicator is computed.

The driver stores it on the study as the user attribute ``hypervolume`` after every wave
(``{"reference", "rule", "directions", "objectives", "final", "history": [[trial, hypervolume], ...]}``), so
optuna-dashboard shows it beside the study; ``robustperf tune --status`` prints it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from .study import TuneError

#: study user attributes
HYPERVOLUME_ATTR = "hypervolume"
REFERENCE_ATTR = "hypervolume_reference"


def parse_reference(text: Optional[str], names: Sequence[str]) -> Optional[List[float]]:
    """``--reference 0.5,100`` -> ``[0.5, 100.0]``, one finite number per objective (TuneError otherwise)."""
    import math

    if text is None:
        return None
    try:
        values = [float(v) for v in str(text).split(",")]
    except ValueError:
        values = []
    if len(values) != len(names) or not all(math.isfinite(v) for v in values):
        raise TuneError(f"--reference {text!r}: expected {len(names)} finite numbers separated by commas, one per "
                        f"objective ({', '.join(names)})")
    return values


def hypervolume_history(study, names: Sequence[str], reference: Optional[Sequence[float]] = None
                        ) -> Optional[Dict[str, Any]]:
    """The study's hypervolume after each completed trial (see the module doc); None with no completed trial."""
    import numpy as np

    from scaling.hypervolume import hypervolume, reference_point

    done = sorted((t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and t.values),
                  key=lambda t: t.number)
    done = [t for t in done if all(np.isfinite(v) for v in t.values)]
    if not done:
        return None
    dirs = ["max" if d.name.lower().startswith("max") else "min" for d in study.directions]
    values = np.array([t.values for t in done], dtype=float)
    given = reference if reference is not None else study.user_attrs.get(REFERENCE_ATTR)
    if given is not None:
        ref = {"point": [float(v) for v in given], "rule": "given (robustperf tune --reference)"}
    else:
        ref = {k: v for k, v in reference_point(values, dirs).items() if k != "margin"}
    history = [[int(t.number), float(hypervolume(values[:i + 1], ref["point"], dirs))] for i, t in enumerate(done)]
    return {"objectives": list(names), "directions": dirs, "reference": ref["point"], "rule": ref["rule"],
            "final": history[-1][1], "history": history, "how": "computed from the measured objectives"}


def record_hypervolume(study, names: Sequence[str]) -> Optional[Dict[str, Any]]:
    """Store the history on the study (user attribute ``hypervolume``, shown by optuna-dashboard)."""
    part = hypervolume_history(study, names)
    if part is not None:
        study.set_user_attr(HYPERVOLUME_ATTR, part)
    return part


def history_lines(part: Optional[Dict[str, Any]]) -> List[str]:
    """Lines of ``tune --status``: the final hypervolume, its reference point, and one line per trial."""
    if part is None:
        return []
    lines = [f"hypervolume {part['final']:.6g} (reference {part['reference']}: {part['rule']}); "
             "history by completed trial:"]
    width = max(len(str(n)) for n, _ in part["history"])
    lines += [f"  trial {str(n).rjust(width)}  hypervolume {hv:.6g}" for n, hv in part["history"]]
    return lines

"""Hypervolume of the methods' Pareto fronts, and the methods ranked by their exclusive contribution to it.

Reads the methods section's rows (one point per method variant and setting: mean clean accuracy and AutoAttack
accuracy, maximised, and the training-FLOP ratio to standard training, minimised; rows lacking one of the three
are left out and counted). Per setting (dataset x model) it reports the exact hypervolume of the non-dominated
points (:mod:`scaling.hypervolume`) with its reference point - the mapping's
``sections: {hypervolume: {reference: [clean, autoattack, flops_ratio]}}`` or, by default, the stated rule
(worst value of each objective plus 10 % of its range) - and each method's exclusive contribution: the
hypervolume lost when all of its variants' points are removed (a method with no point on the front adds 0),
ranked, with its share of the whole (figure ``hypervolume_ranking_<i>``, one per setting). Across settings the
methods are ranked by their summed share.
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from ..errors import TableError
from ..formatting import md_table, num
from ..hypervolume import group_contributions, hypervolume, reference_point
from .base import Section, SkipSection

#: the methods rows' objectives and their directions
OBJECTIVES = (("clean", "max"), ("autoattack", "max"), ("flops_ratio", "min"))


def _method(label: str) -> str:
    """``trades (trades_beta=3)`` -> ``trades``: the method a variant belongs to."""
    return label.split(" (", 1)[0]


class HypervolumeSection(Section):
    title = "Hypervolume of the methods' Pareto fronts"
    core = ()
    needs = ("methods",)
    option_keys = {"reference": "reference point [clean %, AutoAttack %, FLOPs ratio] (default: worst value of "
                                "each objective plus 10 % of its range, per setting)"}

    def _reference(self, ctx):
        ref = ctx.section_options(self.name).get("reference")
        if ref is None:
            return None
        if (not isinstance(ref, (list, tuple)) or len(ref) != len(OBJECTIVES)
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) for v in ref)):
            raise TableError(f"sections.hypervolume.reference must be {len(OBJECTIVES)} numbers "
                             f"[{', '.join(k for k, _ in OBJECTIVES)}], got {ref!r}")
        return [float(v) for v in ref]

    def fit(self, ctx):
        explicit = self._reference(ctx)
        names = [k for k, _ in OBJECTIVES]
        dirs = [d for _, d in OBJECTIVES]
        settings, ranking = [], {}
        for setting in ctx.fits["methods"]["settings"]:
            rows = [r for r in setting["methods"] if all(r.get(k) is not None and np.isfinite(r[k]) for k in names)]
            entry: Dict[str, Any] = {"setting": setting["setting"], "objectives": dict(OBJECTIVES),
                                     "points": len(rows), "left_out": len(setting["methods"]) - len(rows)}
            if not rows:
                entry["skipped"] = "no method has clean accuracy, AutoAttack accuracy and a FLOPs ratio"
                settings.append(entry)
                continue
            pts = np.array([[r[k] for k in names] for r in rows], dtype=float)
            if explicit is None:
                ref = reference_point(pts, dirs)
            else:
                ref = {"point": explicit, "rule": "given (sections.hypervolume.reference)", "margin": None}
            entry["reference"] = ref
            entry["hypervolume"] = hypervolume(pts, ref["point"], dirs)
            entry["front"] = [r["method"] for r in rows if r.get("pareto")]
            entry["ranking"] = group_contributions(pts, [_method(r["method"]) for r in rows], ref["point"], dirs)
            for row in entry["ranking"]:
                ranking.setdefault(row["group"], 0.0)
                ranking[row["group"]] += row["share"] or 0.0
            settings.append(entry)
        if not any("hypervolume" in s for s in settings):
            raise SkipSection("no setting has a method with clean accuracy, AutoAttack accuracy and a FLOPs ratio")
        overall = [{"method": m, "summed_share": v} for m, v in sorted(ranking.items(), key=lambda kv: -kv[1])]
        return {"settings": settings, "ranking": overall,
                "how": "exact hypervolume (slicing objectives) of the measured method means; contribution = "
                       "hypervolume lost without all of a method's points"}

    def summary(self, fitted, ctx):
        return fitted

    def figures(self, fitted, ctx, save) -> None:
        import matplotlib.pyplot as plt  # matplotlib deferred: loaded only when figures are drawn

        for i, s in enumerate(fitted["settings"]):
            if "hypervolume" not in s:
                continue
            rows = s["ranking"]
            name = " ".join(str(v) for v in s["setting"].values() if v is not None) or "all runs"
            fig, ax = plt.subplots(figsize=(6, 0.35 * len(rows) + 1.6))
            ax.barh(range(len(rows)), [100 * (r["share"] or 0.0) for r in rows], color="C3")
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels([r["group"] for r in rows])
            ax.invert_yaxis()
            ax.set_xlabel("exclusive contribution (% of the hypervolume)")
            ax.set_title(f"{name}: hypervolume {s['hypervolume']:.4g} (reference {s['reference']['point']})",
                         fontsize=8)
            fig.tight_layout()
            save(fig, f"hypervolume_ranking_{i}")
            plt.close(fig)

    def console(self, part) -> List[str]:
        out = []
        for s in part.get("settings", []):
            if "hypervolume" not in s:
                continue
            name = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in s["setting"].items()) or "all runs"
            top = s["ranking"][0]
            out.append(f"hypervolume ({name}): {s['hypervolume']:.4g} (reference {s['reference']['point']}); "
                       f"largest contribution: {top['group']} ({num(top['share'], '.1%')})")
        return out

    def markdown(self, part, report) -> List[str]:
        lines = [f"## {self.title}", "",
                 "Exact hypervolume of the methods' points (clean and AutoAttack accuracy up, FLOPs ratio to "
                 "standard down) against the stated reference point; a method's contribution is the hypervolume "
                 "lost without all of its variants (0: none of them is on the front).", ""]
        for s in part.get("settings", []):
            name = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in s["setting"].items()) or "all runs"
            lines += [f"### {name}", ""]
            if "hypervolume" not in s:
                lines += [f"skipped: {s['skipped']}", ""]
                continue
            ref = s["reference"]
            lines += [f"Hypervolume {num(s['hypervolume'], '.4g')} over {s['points']} points "
                      f"({s['left_out']} left out); reference {ref['point']} ({ref['rule']}).", ""]
            lines += md_table(["rank", "method", "points", "contribution", "share"],
                              [[str(r["rank"]), r["group"], str(r["points"]), num(r["contribution"], ".4g"),
                                num(r["share"], ".1%")] for r in s["ranking"]])
            lines.append("")
        if part.get("ranking"):
            lines += ["Methods by their summed share over the settings: "
                      + ", ".join(f"{r['method']} ({num(r['summed_share'], '.2f')})" for r in part["ranking"]), ""]
        return lines

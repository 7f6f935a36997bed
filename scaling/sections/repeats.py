"""Repeats: mean, sd and the MLPerf olympic mean of accuracy per configuration run with several seeds."""
from __future__ import annotations

from typing import List

from ..errors import TableError
from ..regression import repeats_table
from ..formatting import md_table, num
from ..table import default_group
from .base import Section


class RepeatsSection(Section):
    title = "Repeats"

    def fit(self, ctx):
        frame = ctx.frame
        group = default_group(frame, ctx.mapping)
        absent = [g for g in group if g not in frame.columns]
        if absent:
            raise TableError(f"the table has no group column '{absent[0]}'", column=absent[0],
                             present=[str(c) for c in ctx.table.columns], hint="pass --group COLUMN (repeatable)")
        reps = repeats_table(frame, group, ctx.y)
        varying = [g for g in group if frame[g].astype(str).nunique() > 1]  # label configs by what differs
        return {"group": group, "n_configs": int(len(reps)), "configs": [
            {"label": ", ".join(f"{g}={row[g]}" for g in varying) or "all",
             "n": int(row["n"]), "mean": row["mean"], "sd": row["sd"], "olympic_mean": row["olympic_mean"]}
            for row in reps.to_dict("records")]}

    def summary(self, fitted, ctx):
        return fitted

    def markdown(self, rep, report) -> List[str]:
        if not rep.get("group"):
            return [f"## {self.title}", "", "No configuration columns: pass --group COL to average repeated seeds.",
                    ""]
        if not rep.get("configs"):
            return [f"## {self.title}", "", "No configuration was run with several seeds.", ""]
        lines = [f"## {self.title}", "",
                 f"{rep['n_configs']} configurations with several seeds (grouped by {len(rep['group'])} columns); "
                 "olympic mean = mean without the best and the worst (MLPerf), needs >= 3 runs.", ""]
        return lines + md_table(["config", "n", "mean", "sd", "olympic mean"],
                                [[c["label"], str(c["n"]), num(c["mean"], ".3f"), num(c["sd"], ".3f"),
                                  num(c["olympic_mean"], ".3f")] for c in rep["configs"][:30]])

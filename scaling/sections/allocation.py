"""The compute-optimal robust model: the joint law ``L(N, D) = E + A/N**a + B/D**b`` of robust error (or loss) in
parameters N and samples seen D, fitted by Hoffmann et al. 2022's approach 3 (:mod:`scaling.allocation`), and the
best N, D (and epochs) and error it predicts for each compute budget (``--budgets``), with bootstrap intervals.

Columns, through the mapping: ``params`` (default our records' ``params``), ``samples`` (samples seen in training;
no default: map it), the target (``loss`` if mapped, else ``error``, else robust error ``100 - acc`` in percent)
and ``flops`` (the budgets' compute, ``C = k N D``). Settings (``sections: {allocation: {...}}``): ``train_size``,
a column of the training-set size, turns samples seen into epochs.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from ..allocation import HUBER_DELTA, JointLaw, NAMES, allocate
from ..errors import InsufficientDataError, TableError
from ..formatting import ci_text, md_table, num
from .base import Section, SkipSection

REFERENCE = ("Hoffmann et al. 2022, Training Compute-Optimal Large Language Models (arXiv:2203.15556), approach 3: "
             f"Huber loss (delta {HUBER_DELTA:g}) on the log error, L-BFGS from a grid of starts")
DEFAULT_PARAMS = "params"
#: budgets when none are asked: the largest observed FLOPs and 10x, 100x it
DEFAULT_BUDGET_FACTORS = (1.0, 10.0, 100.0)


def target_column(mapping, columns) -> Optional[tuple]:
    """(expression, what, transform) of the fitted target: loss, error, or 100 - accuracy."""
    loss, error = getattr(mapping, "loss", None), getattr(mapping, "error", None)
    if loss not in (None, "none") and error not in (None, "none"):
        raise TableError("the mapping names both 'loss' and 'error': the joint law is fitted to one of them; "
                         "remove one (or set it to none)")
    if loss not in (None, "none"):
        return loss, "loss", "loss"
    if error not in (None, "none"):
        return error, "error", "error"
    if columns.get("acc"):
        return columns["acc"], "robust error (100 - accuracy, %)", "100-acc"
    return None


class AllocationSection(Section):
    title = "Compute-optimal allocation: joint law of parameters and samples seen"
    per_group = True
    core = ()
    option_keys = {"train_size": "column of the training-set size: samples seen / train_size = epochs"}

    def named_columns(self, ctx) -> Dict[str, str]:
        size = ctx.section_options(self.name).get("train_size")
        return {"sections.allocation.train_size": size} if size else {}

    def _params_col(self, ctx) -> Optional[str]:
        named = getattr(ctx.mapping, "params", None)
        if named == "none":
            return None
        return named or (DEFAULT_PARAMS if DEFAULT_PARAMS in ctx.table.columns else None)

    def columns(self, ctx):
        params = self._params_col(ctx)
        samples = getattr(ctx.mapping, "samples", None)
        if params is None:
            raise SkipSection("no parameter-count column (map 'params')")
        if samples in (None, "none"):
            raise SkipSection("no samples-seen column (map 'samples': training samples seen per run)")
        target = target_column(ctx.mapping, ctx.columns)
        if target is None:
            raise SkipSection("no target column (map 'loss', 'error' or 'acc')")
        return [params, samples, target[0]]

    def fit(self, ctx) -> Dict[str, Any]:
        params, samples = self._params_col(ctx), ctx.mapping.samples
        expr, what, transform = target_column(ctx.mapping, ctx.columns)
        n = ctx.numeric(params, "parameter count", "the mapping key 'params'").to_numpy()
        d = ctx.numeric(samples, "samples seen", "the mapping key 'samples'").to_numpy()
        t = ctx.numeric(expr, what, "the mapping key " + {"100-acc": "'acc'"}.get(transform, f"'{transform}'"))
        t = (100.0 - t if transform == "100-acc" else t).to_numpy()
        fcol = ctx.columns.get("flops")
        c = ctx.x_all.to_numpy() if fcol else np.full(n.shape, np.nan)
        size_col = ctx.section_options(self.name).get("train_size")
        size = ctx.numeric(size_col, "training-set size", "sections.allocation.train_size").to_numpy() \
            if size_col else None
        ok = np.isfinite(n) & np.isfinite(d) & np.isfinite(t) & (n > 0) & (d > 0) & (t > 0)
        dropped = int((~ok).sum())
        if dropped:
            ctx.notes.append(f"allocation: {dropped} rows without positive parameters, samples seen and "
                             f"{what} left out of the joint law")
        o = ctx.options
        law = JointLaw(n_boot=min(o.n_boot, 1000), seed=o.seed).fit(n[ok], d[ok], t[ok], what)
        has_c = ok & np.isfinite(c) & (c > 0)
        fit: Dict[str, Any] = {"law": law, "n": n[ok], "d": d[ok], "t": t[ok], "what": what, "dropped": dropped,
                               "columns": {"params": params, "samples": samples, "target": expr, "flops": fcol},
                               "allocation": None}
        budgets = tuple(getattr(o, "budgets", ()) or ())
        if fcol is None or has_c.sum() < 2:
            fit["budgets_skipped"] = "no FLOPs column with positive values: the compute of (N, D) is unknown"
            return fit
        if not budgets:
            budgets = tuple(float(np.max(c[has_c])) * f for f in DEFAULT_BUDGET_FACTORS)
            fit["budgets_default"] = True
        # k on the rows with FLOPs, resampled with the law's bootstrap rows (mapped into the kept rows)
        keep = np.flatnonzero(ok)
        c_ok = c[keep]
        if not np.all(np.isfinite(c_ok) & (c_ok > 0)):
            raise InsufficientDataError("allocation", int(ok.sum()), int(has_c.sum()),
                                        "every row of the joint law needs positive FLOPs for k")
        fit["allocation"] = allocate(law, c_ok, n[ok], d[ok], budgets)
        if size is not None:
            sizes = size[keep][np.isfinite(size[keep]) & (size[keep] > 0)]
            if sizes.size:
                fit["train_size"] = float(np.max(sizes))
        return fit

    def summary(self, fit, ctx) -> Dict[str, Any]:
        law: JointLaw = fit["law"]
        ci = law.params_ci()
        out: Dict[str, Any] = {
            "method": REFERENCE, "formula": "L(N, D) = E + A / N^a + B / D^b", "target": fit["what"],
            "columns": fit["columns"], "n_rows": law.n_, "dropped": fit["dropped"],
            "interval": f"95 % percentile bootstrap over {law.boot_.shape[0]} row resamples (of {law.n_boot})",
            "law": {k: {"value": law.params_[k], "ci": list(ci[k])} for k in NAMES},
            "huber_loss": law.loss_, "how": "estimated (fitted on the table)"}
        alloc = fit["allocation"]
        if alloc is None:
            out["budgets"] = {"skipped": fit.get("budgets_skipped")}
            return out
        out["k"] = {"value": alloc["k"], "ci": alloc["k_ci"], "log_sd": alloc["k_log_sd"],
                    "meaning": "FLOPs (in the FLOPs column's unit) per parameter per sample seen: C = k N D"}
        budgets = []
        for b in alloc["budgets"]:
            inside = (b["flops"] <= float(np.max(ctx.x_all[ctx.valid_x]))
                      and fit["n"].min() <= b["params"] <= fit["n"].max()
                      and fit["d"].min() <= b["samples"] <= fit["d"].max())
            entry = {"flops": b["flops"], "how": "estimated" if inside else "extrapolated",
                     "how_rule": "estimated: the budget and its best N and D inside the observed ranges"}
            for key in ("params", "samples", "error"):
                entry[key] = {"value": b[key], "ci": b[f"{key}_ci"]}
            if fit.get("train_size"):
                size = fit["train_size"]
                entry["epochs"] = {"value": b["samples"] / size, "ci": [v / size for v in b["samples_ci"]],
                                   "train_size": size}
            budgets.append(entry)
        out["budgets"] = budgets
        if fit.get("budgets_default"):
            out["budgets_note"] = "no --budgets given: the largest observed FLOPs and 10x, 100x it"
        return out

    def figures(self, fit, ctx, save) -> None:
        from .. import plotting  # matplotlib deferred: loaded only when figures are drawn
        from .allocation_figure import plot_allocation

        save(plot_allocation(plotting, fit, ctx.report.get(self.name, {})), "allocation")

    def console(self, part) -> List[str]:
        law = part["law"]
        v = {k: law[k]["value"] for k in NAMES}
        lines = [f"L(N, D) = {v['E']:.3g} + {v['A']:.3g}/N^{v['a']:.3g} + {v['B']:.3g}/D^{v['b']:.3g}"
                 + f" (a 95% CI {ci_text(law['a']['ci'], '.3g')}, b {ci_text(law['b']['ci'], '.3g')})"]
        for b in part.get("budgets", []) if isinstance(part.get("budgets"), list) else []:
            lines.append(f"budget {b['flops']:.3g}: N = {b['params']['value']:.3g} "
                         f"{ci_text(b['params']['ci'], '.3g')}, D = {b['samples']['value']:.3g} "
                         f"{ci_text(b['samples']['ci'], '.3g')}, {part['target']} {b['error']['value']:.3g} "
                         f"{ci_text(b['error']['ci'], '.3g')}")
        return lines

    def markdown(self, part, report) -> List[str]:
        law = part["law"]
        lines = [f"## {self.title}", "",
                 f"{part['formula']}, fitted to {part['target']} (`{part['columns']['target']}`) on "
                 f"{part['n_rows']} runs by the method of {part['method']}; {part['interval']}.", ""]
        lines += md_table(["parameter", "value", "95 % CI"],
                          [[k, num(law[k]["value"]), ci_text(law[k]["ci"], ".3g")] for k in NAMES])
        if not isinstance(part.get("budgets"), list):
            return lines + [f"Budgets skipped: {part['budgets'].get('skipped')}", ""]
        k = part["k"]
        lines += [f"Compute of a candidate: C = k·N·D, k = {num(k['value'])} {ci_text(k['ci'], '.3g')} (geometric "
                  f"mean of FLOPs / (N·D) over the runs; sd of its log {k['log_sd']:.2g}).", ""]
        if part.get("budgets_note"):
            lines += [part["budgets_note"], ""]
        rows = []
        for b in part["budgets"]:
            row = [num(b["flops"]), b["how"]] + [f"{num(b[key]['value'])} {ci_text(b[key]['ci'], '.3g')}"
                                                 for key in ("params", "samples", "error")]
            row.append(f"{num(b['epochs']['value'])} {ci_text(b['epochs']['ci'], '.3g')}" if "epochs" in b else "–")
            rows.append(row)
        return lines + md_table(["budget (FLOPs)", "how", "best N", "samples seen D", part["target"], "epochs"], rows)

"""Record field paths come from the typed groups (``Flops.path("train_total")``) and the recipe schema
(``config_path("training.loss")``): a renamed field fails where the path is named, at import, not during
someone's analysis; the audit's numeric fields are read off the types."""
from __future__ import annotations

import dataclasses
import sys
import textwrap

import pytest

import results
from results import GROUPS, Accuracy, Energy, Evaluation, Flops, Slowdown, Training
from results.audit import NUMERIC_FIELDS, PERCENT_FIELDS, value_problems
from results.config_paths import config_path, config_paths
from results.groups import base_type, hints


def test_a_group_names_the_dotted_paths_of_its_fields():
    assert Flops.path("train_total") == "flops.train_total"
    assert Energy.path("kwh") == "energy.kwh"
    assert Flops.paths()[:2] == ("flops.forward_per_sample", "flops.train_forward_per_sample")
    record = results.new_record("abc123def456", "n", {"seed": 0})
    record["flops"]["train_total"] = 3.0
    assert results.get(record, Flops.path("train_total")) == 3.0
    # every group's paths are the record's fixed fields, in record order
    assert [p for g in GROUPS.values() for p in g.paths()] == [f for f in results.FIELDS if "." in f]
    assert all(GROUPS[g.KEY] is g for g in GROUPS.values())


def test_a_path_continues_into_a_field_that_holds_an_object_only():
    assert Evaluation.path("inference", "fp32", "Offline") == "evaluation.inference.fp32.Offline"
    assert Accuracy.path("per_attack", "apgd-ce") == "accuracy.per_attack.apgd-ce"
    assert Slowdown.path("by_rad", "0.5") == "slowdown.by_rad.0.5"   # an untyped (Any) field may hold one too
    with pytest.raises(AttributeError, match="holds no object"):
        Flops.path("train_total", "x")


def test_a_field_the_group_lacks_is_an_error_that_names_the_near_one():
    with pytest.raises(AttributeError, match=r"no field 'train_totl' \(did you mean 'train_total'\?\)"):
        Flops.path("train_totl")
    with pytest.raises(AttributeError, match="'cost'"):
        results.Cost.names("electricity_usd", "electricity")
    assert Training.names("epochs", "best_epoch") == ("epochs", "best_epoch")


def test_a_module_naming_a_renamed_field_fails_at_import(tmp_path, monkeypatch):
    (tmp_path / "old_analysis.py").write_text(textwrap.dedent("""
        from results import Flops
        TRAIN_TOTAL = Flops.path("total_train_flops")   # a field the group does not have (any more)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AttributeError, match="total_train_flops"):
        __import__("old_analysis")
    sys.modules.pop("old_analysis", None)


def test_config_paths_come_from_the_recipe_schema():
    assert config_path("training.loss") == "config.training.loss"
    assert config_path("seed") == "config.seed"
    assert config_path("training") + "." == "config.training."
    assert "config.data.name" in config_paths() and "config.seed" in config_paths()
    with pytest.raises(AttributeError, match=r"did you mean 'training.loss'"):
        config_path("training.los")
    # every key of the run config is a column of a record's flattened config
    record = results.new_record("abc123def456", "n", {"seed": 0, "training": {"loss": "at"}})
    assert results.flatten(record)[config_path("training.loss")] == "at"


def test_the_audit_checks_every_numeric_field_of_the_types():
    numeric = {f"{key}.{name}" for key, group in GROUPS.items() for name, tp in hints(group).items()
               if base_type(tp) in (int, float)}
    assert numeric <= set(NUMERIC_FIELDS)
    assert {"params", "seed", "co2_kg"} <= set(NUMERIC_FIELDS)
    assert not [f for f in NUMERIC_FIELDS if f.startswith(("config.", "evaluations."))]
    # strings, objects and lists are not numbers
    assert not {"flops.source", "cost.device_model", "accuracy.per_attack", "accuracy.autoattack_ci"} & set(
        NUMERIC_FIELDS)
    assert set(PERCENT_FIELDS) == {"accuracy.clean", "accuracy.pgd", "accuracy.autoattack", "training.best_pgd_subset",
                                   "to_target.target", "to_target.accuracy",
                                   # a published model's leaderboard figures (robustperf zoo eval)
                                   "origin.reported_clean", "origin.reported_autoattack"}
    record = results.new_record("abc123def456", "n", {"seed": 0})
    record["accuracy"]["clean"] = 101.0
    record["energy"]["devices"] = -1
    assert value_problems(record) == ["energy.devices: -1 is negative", "accuracy.clean: 101.0 is above 100 %"]


def test_a_percent_field_is_declared_on_its_group():
    declared = [f.name for f in dataclasses.fields(Accuracy) if f.metadata]
    assert declared == ["clean", "pgd", "autoattack"]

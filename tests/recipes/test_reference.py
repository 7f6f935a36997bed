"""The recipe reference is generated from the schema; the docs site embeds it when it is built (docs/hooks.py)."""
from __future__ import annotations

from recipes.reference import render


def test_the_docs_embed_the_generated_recipe_reference(repo_root):
    page = (repo_root / "docs" / "reference" / "recipe-keys.md").read_text(encoding="utf-8")
    assert "<!-- reference: recipe-keys -->" in page, "docs/reference/recipe-keys.md lost its placeholder"


def test_reference_lists_every_fixed_key():
    text = render()
    for key in ("seed", "data.synthetic_fraction", "training.ema_decay", "attack.eps", "evaluation.autoattack_n",
                "measurement.kg_co2_per_kwh", "tracking.wandb", "launch.max_parallel"):
        assert f"| `{key}` |" in text

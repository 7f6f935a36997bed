"""YAML read safely, with line numbers: the one place recipes (and ``--set`` values) are parsed.

``yaml.safe_load`` semantics with YAML 1.2's float rule (``1e-3`` is a number), duplicate keys refused, and hostile
text (alias bombs, absurd nesting, huge files) refused fast with a :class:`RecipeError` naming the line.

The parsed node graph is checked before anything walks it: at most ``yaml_depth`` levels of nesting (default 32;
a recipe needs 6) and at most ``yaml_nodes`` nodes with aliases expanded (:mod:`recipes.limits`). Every later
walk over the recipe (validation, the matrix, error messages, ids) is therefore bounded in depth and size, and
the checks themselves are iterative, so no nesting raises RecursionError.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

import yaml

from .errors import RecipeError, UserError
from .limits import limit, over_limit_message

__all__ = ["RecipeLoader", "parse_yaml", "MAX_YAML_DEPTH"]

#: libyaml's parser when PyYAML was built with it: 10-50x faster on large recipes, and it refuses nesting deeper
#: than 1000 levels at once (the pure-Python scanner slows down quadratically with depth, 10 s at 2000).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: nesting depth at which the pure-Python fallback's recursive composer stops (libyaml's own limit is 1000);
#: the ``yaml_depth`` bound (at most 500) is checked on the composed graph for both parsers
MAX_YAML_DEPTH = 501


class RecipeLoader(_SAFE_LOADER):  # type: ignore[misc,valid-type]
    """Safe YAML loader whose implicit float rule is YAML 1.2's: ``1e-3`` and ``5e-4`` are numbers.

    YAML 1.1 (PyYAML's default) wants a dot and a signed exponent (``1.0e-3``) and reads ``1e-3`` as a string,
    so ``lr: 1e-3`` failed the number check. Only the float resolver differs; the class keeps its own copy of
    the resolver table, leaving ``yaml.SafeLoader`` untouched.
    """

    _depth = 0

    def compose_node(self, parent, index):  # the pure-Python composer only; libyaml limits depth itself
        self._depth += 1
        try:
            if self._depth > min(MAX_YAML_DEPTH, limit("yaml_depth") + 1):
                raise RecipeError(f"nested deeper than {limit('yaml_depth')} levels",
                                  line=self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _children(node: yaml.Node) -> List[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_shape(root: yaml.Node, max_nodes: Optional[int], max_depth: int) -> None:
    """Refuse a node graph nested deeper than ``max_depth`` levels, expanding (aliases followed) to more than
    ``max_nodes`` nodes (None: not counted, the graph is a tree no bigger than the text), or referring to itself.

    YAML aliases let a few hundred bytes stand for billions of nodes ("billion laughs"); every walk over the
    parsed recipe would follow them, and every walk recurses once per level of nesting. Sizes and heights are
    memoised per node, so the check costs one pass over the distinct nodes, iteratively (no recursion limit).
    """
    size: Dict[int, int] = {}
    height: Dict[int, int] = {}
    on_path: set = set()
    stack: List[Tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            children = _children(node)
            total = 1 + sum(size[id(child)] for child in children)
            levels = 0 if isinstance(node, yaml.ScalarNode) else 1 + max((height[id(c)] for c in children), default=0)
            if levels > max_depth:
                raise RecipeError(over_limit_message("yaml_depth", "the nesting depth", None)
                                  + "; a recipe nests about 6 levels", line=node.start_mark.line + 1)
            if max_nodes is not None and total > max_nodes:
                raise RecipeError(over_limit_message("yaml_nodes", "the number of YAML nodes with aliases expanded",
                                                     total) + "; nested aliases (&a, *a) repeat text many times",
                                  line=node.start_mark.line + 1)
            size[key], height[key] = total, levels
            continue
        if key in size:
            continue
        if key in on_path:
            raise RecipeError("a YAML alias refers to a node containing itself", line=node.start_mark.line + 1)
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise RecipeError("a YAML alias refers to a node containing itself",
                                  line=child.start_mark.line + 1)
            if id(child) not in size:
                stack.append((child, False))


def _line_map(root: yaml.Node) -> Dict[str, int]:
    """Map dotted key paths to 1-based lines; duplicate keys are an error (safe_load keeps the last silently).

    Call after :func:`_check_shape`: aliased nodes are walked once per path that reaches them. Iterative, in
    document order (the first line of a path wins).
    """
    out: Dict[str, int] = {}
    stack: List[Tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, prefix = stack.pop()
        todo: List[Tuple[yaml.Node, str]] = []
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                path = f"{prefix}.{key}" if prefix else key
                if key in seen:
                    raise RecipeError("duplicate key", key=path, line=key_node.start_mark.line + 1)
                seen.add(key)
                out.setdefault(path, key_node.start_mark.line + 1)
                todo.append((value_node, path))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                out.setdefault(f"{prefix}[{i}]", item.start_mark.line + 1)
                todo.append((item, f"{prefix}[{i}]"))
        stack.extend(reversed(todo))
    return out


def parse_yaml(text: str, file: str) -> Tuple[Any, Dict[str, int]]:
    """Parse YAML safely; any parser failure (syntax, unsafe tag, absurd nesting, alias bombs) is a RecipeError.

    Returns the data and a map of dotted key paths to their lines.
    """
    if len(text) > limit("recipe_bytes"):
        raise RecipeError(over_limit_message("recipe_bytes", "the size of the YAML text in bytes", len(text)),
                          file=file)
    loader = RecipeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        # without an anchor there is no alias: the graph is a tree no bigger than the text, so only its depth counts
        _check_shape(node, limit("yaml_nodes") if "&" in text else None, limit("yaml_depth"))
        lines = _line_map(node)
        data = loader.construct_document(node)
    except RecipeError as err:
        raise err.located(file=file) from None
    except UserError:  # a bad ROBUSTPERF_MAX_* variable is the environment's fault, not the file's
        raise
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise RecipeError(f"not valid YAML: {err.problem or err}", file=file,
                          line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise RecipeError("not valid YAML: nested too deeply", file=file) from None
    # The parser is third-party code fed arbitrary user text: whatever else it raises (ValueError on
    # impossible timestamps, ...) is still the user's file at fault.
    except Exception as err:  # noqa: BLE001
        raise RecipeError(f"not valid YAML ({type(err).__name__}: {err})", file=file) from None
    finally:
        loader.dispose()
    return data, lines

"""YAML read safely, with line numbers: the one place recipes (and ``--set`` values) are parsed.

``yaml.safe_load`` semantics with YAML 1.2's float rule (``1e-3`` is a number), duplicate keys refused, and hostile
text (alias bombs, absurd nesting, huge files) refused fast with a :class:`RecipeError` naming the line.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

import yaml

from .errors import RecipeError
from .limits import limit, over_limit_message

__all__ = ["RecipeLoader", "parse_yaml", "MAX_YAML_DEPTH"]

#: libyaml's parser when PyYAML was built with it: 10-50x faster on large recipes, and it refuses nesting deeper
#: than 1000 levels at once (the pure-Python scanner slows down quadratically with depth, 10 s at 2000).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: nesting depth refused by the pure-Python fallback (libyaml's own limit is 1000)
MAX_YAML_DEPTH = 200


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
            if self._depth > MAX_YAML_DEPTH:
                raise RecipeError(f"nested deeper than {MAX_YAML_DEPTH} levels",
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


def _check_expansion(root: yaml.Node, bound: int) -> None:
    """Refuse a node graph that expands (aliases followed) to more than ``bound`` nodes, or refers to itself.

    YAML aliases let a few hundred bytes stand for billions of nodes ("billion laughs"); every walk over the
    parsed recipe would follow them. Sizes are memoised per node, so the check itself costs one pass over the
    distinct nodes, iteratively (no recursion limit).
    """
    size: Dict[int, int] = {}
    on_path: set = set()
    stack: List[Tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            total = 1 + sum(size[id(child)] for child in _children(node))
            if total > bound:
                raise RecipeError(over_limit_message("yaml_nodes", "the number of YAML nodes with aliases expanded",
                                                     total) + "; nested aliases (&a, *a) repeat text many times",
                                  line=node.start_mark.line + 1)
            size[key] = total
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


def _line_map(node: yaml.Node, prefix: str = "", out: Optional[Dict[str, int]] = None) -> Dict[str, int]:
    """Map dotted key paths to 1-based lines; duplicate keys are an error (safe_load keeps the last silently).

    Call after :func:`_check_expansion`: aliased nodes are walked once per path that reaches them.
    """
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            path = f"{prefix}.{key}" if prefix else key
            if key in seen:
                raise RecipeError("duplicate key", key=path, line=key_node.start_mark.line + 1)
            seen.add(key)
            out.setdefault(path, key_node.start_mark.line + 1)
            _line_map(value_node, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.setdefault(f"{prefix}[{i}]", item.start_mark.line + 1)
            _line_map(item, f"{prefix}[{i}]", out)
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
        if "&" in text:  # without an anchor there is no alias: the graph is a tree no bigger than the text
            _check_expansion(node, limit("yaml_nodes"))
        lines = _line_map(node)
        data = loader.construct_document(node)
    except RecipeError as err:
        raise err.located(file=file) from None
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

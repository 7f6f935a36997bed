"""mkdocs hooks: the reference pages are generated from the code at build time, so they cannot drift from it.

A page asks for a generated part with an HTML comment alone on a line; :func:`on_page_markdown` replaces it:

* ``<!-- reference: cli -->``: every ``robustperf`` subcommand, its help and options (``robustperf.build_parser()``);
* ``<!-- reference: recipe-keys -->``: every recipe key with type, default, allowed values, whether it enters the
  run id, and its doc (``recipes.reference.render()``, read from ``recipes.section_fields``: the built-in keys and
  those plug-ins add);
* ``<!-- reference: record -->``: every result-record field with its type and unit (``results.GROUPS``, the typed
  groups of ``results/groups.py``, and their ``unit`` metadata), its group's docstring, and its meaning from
  ``docs/reference/record-fields.yml``;
* ``<!-- reference: plugins -->``: every registered plug-in, kind by kind (``recipes.catalog.all_entries()``, each
  entry's ``describe()``: name, source package, implementation, keys read and added, the facts of its kind);
* ``<!-- reference: recipes -->``: the recipes shipped in ``recipes/*.yaml`` (name, runs, leading comment);
* ``<!-- reference: methods -->``: the registered training methods, one line;
* ``<!-- reference: limits -->``: the input bounds of ``recipes.limits`` and their environment variables;
* ``<!-- reference: bounds -->``: the largest value of each kind of recipe number (``recipes.bounds``) and why;
* ``<!-- reference: moved -->``: the recipe keys that moved or split (``recipes.moved``).

A fenced block opened with ```` ```bash doctest ```` renders as an ordinary ``bash`` block; ``tests/test_docs.py``
runs those blocks in order. A placeholder the hook does not know, a documented record field or group the typed
groups lack, a field without documentation and a documented unit that contradicts the field's own are warnings,
so ``mkdocs build --strict`` fails on them.

Nothing here imports torch: the CLI parser, the catalog (entries only, no plug-in's code), the recipe schema and
the record groups are torch-free by design.
"""
from __future__ import annotations

import argparse
import dataclasses
import html
import logging
import os
import pathlib
import re
import sys
import typing
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RECORD_DOCS = DOCS / "reference" / "record-fields.yml"

log = logging.getLogger("mkdocs.hooks.robustperf")

PLACEHOLDER = re.compile(r"^<!-- reference: ([a-z-]+) -->[ \t]*$", re.MULTILINE)
#: the opening fence of a doctest block; the marker is dropped from the rendered page
DOCTEST_FENCE = re.compile(r"^(\s*```+)\s*bash\s+doctest\s*$", re.MULTILINE)


# ---------------------------------------------------------------------------------------------- mkdocs events

def on_config(config, **kwargs):
    """Make the project's modules importable when mkdocs runs from a checkout that is not installed."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return config


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    markdown = DOCTEST_FENCE.sub(r"\1bash", markdown)

    def replace(match: "re.Match[str]") -> str:
        name = match.group(1)
        generator = GENERATORS.get(name)
        if generator is None:
            log.warning("%s: unknown reference placeholder %r (known: %s)", page.file.src_uri, name,
                        ", ".join(sorted(GENERATORS)))
            return match.group(0)
        return generator()

    return PLACEHOLDER.sub(replace, markdown)


# ---------------------------------------------------------------------------------------------- helpers

def cell(text: Any) -> str:
    """``text`` made safe for one Markdown table cell (no HTML, no pipes, no stray emphasis, one line)."""
    out = html.escape(" ".join(str(text).split()), quote=False)
    return out.replace("|", "\\|").replace("*", "\\*")


def code(text: Any) -> str:
    """``text`` as an inline code span inside a table cell."""
    text = str(text).replace("|", "\\|")
    return f"``{text}``" if "`" in text else f"`{text}`"


# ---------------------------------------------------------------------------------------------- the CLI

def _option_row(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(action.option_strings)
        if action.nargs != 0:
            metavar = action.metavar or (action.dest.upper() if not action.choices else None)
            if metavar is None:
                metavar = "{" + ",".join(map(str, action.choices)) + "}"
            names += f" {metavar if isinstance(metavar, str) else ' '.join(metavar)}"
    else:
        names = action.metavar if isinstance(action.metavar, str) else action.dest
    help_text = (action.help or "")
    if "%(" in help_text:
        params = {k: v for k, v in vars(action).items()}
        params.update(prog="robustperf", default=action.default,
                      choices=", ".join(map(str, action.choices or ())))
        try:
            help_text = help_text % params
        except (KeyError, TypeError, ValueError):
            pass
    notes = []
    if action.choices and not action.option_strings or (action.choices and action.nargs != 0):
        notes.append("one of " + ", ".join(f"`{c}`" for c in action.choices))
    if action.option_strings and action.nargs != 0 and action.default not in (None, [], (), argparse.SUPPRESS) \
            and "default" not in help_text:
        notes.append(f"default `{action.default}`")
    if isinstance(action, argparse._AppendAction) and "repeatable" not in help_text:
        notes.append("repeatable")
    required = "yes" if (action.required or not action.option_strings) else ""
    extra = ("; ".join(notes))
    text = cell(help_text) + (f" ({extra})" if extra else "")
    return f"| {code(names)} | {required} | {text} |"


_CODE_SPAN = re.compile(r"(``.+?``|`[^`\n]+`)")
#: a Sphinx role before a code span (``:mod:`recipes.catalog` ``): Markdown shows the code span alone
_ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|obj):(?=`)")


def _prose(text: str) -> str:
    """A subcommand's description (its module docstring, reST-flavoured) as Markdown: code spans kept, any other
    ``<``, ``>`` and ``*`` escaped, so that nothing in it turns into HTML or emphasis."""
    import textwrap

    out = []
    text = _ROLE.sub("", text)
    for block in re.split(r"\n[ \t]*\n", textwrap.dedent(text).strip("\n")):
        if all(line.startswith("    ") for line in block.splitlines()):
            out.append(block)  # an indented code block: Markdown shows it verbatim
            continue
        parts = _CODE_SPAN.split(block)
        for i in range(0, len(parts), 2):
            parts[i] = html.escape(parts[i], quote=False).replace("*", "\\*")
        out.append("".join(parts))
    return "\n\n".join(out)


def _usage(parser: argparse.ArgumentParser) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        return parser.format_usage().strip()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def _subparsers(parser: argparse.ArgumentParser) -> Optional[argparse._SubParsersAction]:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def subcommands() -> Dict[str, argparse.ArgumentParser]:
    """``{name: its parser}`` of every ``robustperf`` subcommand, in the order the CLI lists them."""
    import robustperf

    return dict(_subparsers(robustperf.build_parser()).choices)


def _command_table(path: str, sub: argparse._SubParsersAction) -> List[str]:
    helps = {choice.dest: choice.help for choice in sub._choices_actions}
    lines = ["| command | what it does |", "|---|---|"]
    lines += [f"| [`{path} {name}`](#{(path + ' ' + name).replace(' ', '-')}) | {cell(helps.get(name, ''))} |"
              for name in sub.choices]
    return lines + [""]


def _command_section(path: str, parser: argparse.ArgumentParser, level: int) -> List[str]:
    """One command's heading, usage, description and options, then each of its own subcommands (``robustperf zoo
    list``, ...) one heading level down, however deep they nest."""
    lines = [f"{'#' * level} {path}", "", "```text", _usage(parser), "```", ""]
    if parser.description:
        lines += [_prose(parser.description), ""]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help != argparse.SUPPRESS
                   and not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]
        if not actions:
            continue
        title = group.title or "options"
        lines += [f"**{cell(title)}**", "", "| argument | required | meaning |", "|---|---|---|"]
        lines += [_option_row(a) for a in actions]
        lines.append("")
    sub = _subparsers(parser)
    if sub is not None:
        lines += _command_table(path, sub)
        for name, child in sub.choices.items():
            lines += _command_section(f"{path} {name}", child, min(level + 1, 6))
    return lines


def render_cli() -> str:
    import robustperf

    lines = _command_table("robustperf", _subparsers(robustperf.build_parser()))
    for name, parser in subcommands().items():
        lines += _command_section(f"robustperf {name}", parser, 2)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- recipe keys

def render_recipe_keys() -> str:
    """The schema's tables (``recipes.reference.render()``), one table per section under its own heading."""
    from recipes import reference

    text = reference.render()
    text = text.replace(getattr(reference, "BEGIN", ""), "").replace(getattr(reference, "END", ""), "")
    out: List[str] = []
    header: List[str] = []
    current: Optional[str] = None
    tables = 0  # the first table (run keys) gets a heading per section
    for line in text.strip().splitlines():
        if line.startswith("| key |"):
            header = [line]
            continue
        if line.startswith("|---"):
            header.append(line)
            tables += 1
            continue
        match = re.match(r"^\| `([a-z_]+)(?:\.([a-z_]+))?[.`]", line)
        if match and header:
            section = match.group(1) if match.group(1) not in ("seed",) else "seed"
            if section == "evaluation" and line.startswith("| `evaluation.slowdown."):
                section = "evaluation.slowdown"
            if current is None or (tables == 1 and section != current):
                out += ["", f"### {section}", ""] if tables == 1 else [""]
                out += header
            current = section
            out.append(line)
            continue
        if line.strip():
            current = None
            title = re.match(r"^([A-Z][a-z]+ keys)\b", line)
            out += ["", f"## {title.group(1)}"] if title else []
            out += ["", line]
    return "\n".join(out).strip() + "\n"


# ---------------------------------------------------------------------------------------------- record fields

def _type_name(tp: Any) -> str:
    if tp is typing.Any:
        return "any"
    args = typing.get_args(tp)
    if typing.get_origin(tp) is typing.Union:
        inner = [a for a in args if a is not type(None)]
        name = " or ".join(_type_name(a) for a in inner)
        return f"{name} or null" if type(None) in args else name
    return {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object",
            list: "list"}.get(tp, getattr(tp, "__name__", str(tp)))


def record_fields() -> List[Tuple[str, str, Optional[str], str]]:
    """``(dotted field, type, group key, unit)`` of every field of a result record, in the record's order (the
    template of ``results.groups``); the unit is the field's own (``percent()``) or ``""``."""
    from results import GROUPS, TEMPLATE
    from results.groups import TOP_TYPES, UNIT, hints

    rows = []
    for key, value in TEMPLATE.items():
        group = GROUPS.get(key)
        if group is None:
            rows.append((key, _type_name(TOP_TYPES.get(key, typing.Any)), None, ""))
            continue
        units = {f.name: f.metadata.get(UNIT, "") for f in dataclasses.fields(group)}
        for sub, tp in hints(group).items():
            rows.append((group.path(sub), _type_name(tp), key, units[sub]))
    return rows


def _group_doc(group: type) -> str:
    doc = (group.__doc__ or "").strip()
    if doc.startswith(f"{group.__name__}("):  # the dataclass's generated signature, not a docstring
        return ""
    return " ".join(doc.replace("``", "`").split())


def render_record() -> str:
    from results import GROUPS, SCHEMA_VERSION

    documented = yaml.safe_load(RECORD_DOCS.read_text(encoding="utf-8")) or {}
    groups_doc = documented.pop("groups", {}) or {}
    where = RECORD_DOCS.relative_to(ROOT)
    rows = record_fields()
    known = {name for name, _, _, _ in rows}
    for name in sorted(set(documented) - known):
        log.warning("%s documents record field %r, which the groups of results/groups.py do not have", where, name)
    for name in sorted(set(groups_doc) - set(GROUPS)):
        log.warning("%s documents record group %r, which results.GROUPS does not have", where, name)
    lines = [f"Schema version **{SCHEMA_VERSION}**: {len(rows)} fields in {len(GROUPS)} groups.", ""]
    head = ["| field | type | unit | meaning |", "|---|---|---|---|"]
    current: Any = ()
    for name, type_name, group, unit in rows:
        if group != current:
            current = group
            if group is None and lines[-1].startswith("|"):
                lines.append("")
            if group is None:
                if not any(line.startswith("### Top-level") for line in lines):
                    lines += ["### Top-level fields", ""] + head
            else:
                cls = GROUPS[group]
                lines += ["", f"### `{group}`", ""]
                doc = " ".join(x for x in (groups_doc.get(group, ""), _group_doc(cls)) if x)
                lines += [f"Typed group `results.{cls.__name__}` (`{cls.__name__}.path(...)`)."
                          + (" " + cell(doc).replace("\\*", "*") if doc else ""), ""]
                lines += head
        entry = documented.get(name)
        if entry is None:
            log.warning("record field %r (results/groups.py) is not documented: add it to %s", name, where)
            entry = {}
        if isinstance(entry, str):
            entry = {"doc": entry}
        if unit and entry.get("unit", unit) != unit:
            log.warning("%s gives record field %r the unit %r, but its group declares %r", where, name,
                        entry.get("unit"), unit)
        lines.append(f"| {code(name)} | {type_name} | {cell(unit or entry.get('unit', ''))} | "
                     f"{cell(entry.get('doc', ''))} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- plug-ins

#: the fields every entry has; a kind's own facts (its entry's other fields) get a column each
_COMMON = ("kind", "name", "source", "impl", "doc", "reads", "keys")


#: facts shown as prose, not as code (a paper's citation, a download address)
_PROSE = ("paper", "url")


def _fact(name: str, value: Any) -> str:
    if value in (None, "", [], {}):
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, list):
        return ", ".join(code(v) for v in value)
    return cell(value) if name in _PROSE else code(value)


def render_plugins() -> str:
    """One table per kind of every registered entry (``recipes.catalog.all_entries()``), from its ``describe()``:
    name, the facts of its kind, the recipe keys it reads and adds, its doc, its package and implementation."""
    from recipes import catalog

    by_kind: Dict[str, List[Dict[str, Any]]] = {kind: [] for kind in catalog.KINDS}
    for entry in catalog.all_entries():
        by_kind[entry.kind].append(entry.describe())
    lines: List[str] = []
    for kind, described in by_kind.items():
        cls = catalog.KINDS[kind]
        facts = [f.name for f in dataclasses.fields(cls) if f.name not in _COMMON]
        selector = catalog.SELECTORS.get(kind)
        chosen = f", chosen by the recipe key `{selector}`" if selector else ""
        lines += [f"## {kind}", "",
                  f"Entry `recipes.catalog.{cls.__name__}`, entry-point group `{catalog.GROUPS[kind]}`{chosen}. "
                  f"{len(described)} registered.", ""]
        if not described:
            continue
        lines += ["| name | " + " | ".join(facts) + " | reads | adds keys | meaning | package | implementation |",
                  "|---" * (len(facts) + 6) + "|"]
        for d in described:
            keys = ", ".join(f"{code(k)} (default `{v['default']}`: {cell(v['doc'])})" for k, v in d["keys"].items())
            lines.append(f"| {code(d['name'])} | " + " | ".join(_fact(f, d[f]) for f in facts)
                         + f" | {', '.join(code(r) for r in d['reads'])} | {keys} | {cell(d['doc'])} | "
                         f"{cell(d['source'])} | {code(d['impl'])} |")
        lines.append("")
    problems = catalog.problems()
    if problems:
        lines += ["## Plug-ins that could not be loaded", ""] + [f"- {cell(p)}" for p in problems] + [""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- shipped recipes

def _leading_comment(path: pathlib.Path) -> str:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return " ".join(lines)


def render_recipes() -> str:
    from recipes import load_recipe

    lines = ["| file | name | runs | what it is |", "|---|---|---|---|"]
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        recipe = load_recipe(str(path))
        extra = " A `search:` section for `robustperf tune`." if getattr(recipe, "search", None) else ""
        lines.append(f"| {code('recipes/' + path.name)} | {code(recipe.name)} | {recipe.count():,} | "
                     f"{cell(_leading_comment(path) + extra)} |")
    return "\n".join(lines) + "\n"


def render_methods() -> str:
    from recipes import catalog

    return ", ".join(f"`{name}`" for name in catalog.names("methods")) + "\n"


def render_limits() -> str:
    """The bounds of ``recipes.limits.LIMITS``, each described by its row of that module's docstring table."""
    from recipes import limits

    guards = {}
    for line in (limits.__doc__ or "").splitlines():
        match = re.match(r"^``(\w+)``\s+\S+\s+\d+\s+(.*)$", line.strip())
        if match:
            guards[match.group(1)] = match.group(2).replace("``", "`")
    lines = ["| bound | guards | variable | default |", "|---|---|---|---|"]
    for name, (variable, default) in limits.LIMITS.items():
        lines.append(f"| `{name}` | {cell(guards.get(name, '')).replace('&lt;', '<')} | `{variable}` | {default:,} |")
    return "\n".join(lines) + "\n"


def render_bounds() -> str:
    """The largest value of each kind of recipe number (``recipes.bounds.BOUNDS``) and why."""
    from recipes import bounds

    lines = ["| bound | largest value | keys | why no run can use more |", "|---|---|---|---|"]
    for name, (value, keys, why) in bounds.BOUNDS.items():
        shown = f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"
        lines.append(f"| `{name}` | {shown} | {cell(keys)} | {cell(why)} |")
    return "\n".join(lines) + "\n"


def render_moved() -> str:
    """The recipe keys that moved (``recipes.moved.MOVES``) and split (``SPLITS``), from the loader's table."""
    from recipes import moved

    lines = ["| old key | new key | moved in | the old key now | note |", "|---|---|---|---|---|"]
    for m in moved.MOVES:
        old = (f"read as the new key with a warning until {m.refused_from}" if m.same_meaning
               else "refused, naming the new key (the meaning changed)")
        lines.append(f"| `{m.old}` | `{m.new}` | {m.moved_in} | {old} | {cell(m.note)} |")
    for r in moved.RENAMED_VALUES:
        lines.append(f"| `{r.key}: {r.old}` | `{r.key}: {r.new}` | {r.renamed_in} | read as the new value with a "
                     f"warning until {r.refused_from} | {cell(r.note)} |")
    for key, what, new, release in moved.SPLITS:
        lines.append(f"| `{key}` | `{new}` | {release} | still valid: no longer sets {what} | set `{new}` "
                     "for that |")
    return "\n".join(lines) + "\n"


GENERATORS: Dict[str, Callable[[], str]] = {
    "cli": render_cli, "recipe-keys": render_recipe_keys, "record": render_record, "plugins": render_plugins,
    "recipes": render_recipes, "methods": render_methods, "limits": render_limits, "bounds": render_bounds,
    "moved": render_moved,
}

"""The run matrix of a recipe as a lazy sequence: its length and its N-th run without building the others.

A recipe's matrix is the product of its grid axes (first axis outermost) times ``repeats`` (innermost), with
``--set`` overrides applied to every run, ``exclude`` entries dropped and duplicate runs dropped. Building it
run by run costs time and memory in proportion to the product (10^6 runs took 37 s and 2.5 GB), and every
command, even ``robustperf run --index 0`` inside an array task, used to build all of it. Here:

- Duplicates are removed per axis before anything else: grid axes set disjoint keys, so two runs are the same
  exactly when every axis picks values with the same effect (the key values the axis leaves in the config,
  after ``--set`` overrides, of the keys in the run identity, ``recipes.identity.is_identity_key``; values that
  differ only outside it are refused: they would be one run). Keeping each axis's first value of every
  effect is what dropping later duplicates in matrix order did. Seeds are the one coupled key: ``seed`` on an
  axis plus ``repeats`` must not produce one seed twice, and such a recipe is refused.
- Keys read by some runs only (another method's parameter, ``recipes.identity.applies``) couple axes: whether
  ``training.trades_beta`` is in a run's id depends on its ``training.loss``. An axis of such a key is merged
  with the axis of the key that decides it (and the axes between them, to keep the order) into one axis of
  their product, so de-duplication per axis stays exact. Without such an axis (the method is fixed), values
  that differ only in keys the runs do not read are refused like values outside the identity.
- Every exclude entry becomes, per dimension, the set of values it matches (a key no axis sets is a constant:
  the entry matches every run or none). A key matches only the runs that read it, so an entry on a key that
  some methods read constrains the axis of ``training.loss``. An entry on ``seed`` constrains the seed axis
  (if any) and the repeats, the last dimension. :mod:`recipes.excludes` counts and indexes the product less
  what the entries match, dimension by dimension, with the number of distinct partial states bounded.

Length and indexing cost work in proportion to the values the exclude entries name and to the distinct partial
states they leave between dimensions (a few for the usual excludes, whatever the product); an exclude list
whose entries tie many axes together exceeds the ``exclude_work`` bound and is refused at once (exact counting
is #P-complete in general). Materialising runs is what the ``runs`` bound limits (:mod:`recipes.limits`).
"""
from __future__ import annotations

import json
from typing import Any, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

from .errors import RecipeError
from .excludes import ExcludeCounter, check_work
from .limits import limit
from .identity import applies, conditions, is_identity_key

Patch = Tuple[Tuple[str, Optional[str], Any], ...]
_SEED = ("seed", None)
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode


def _value(cfg: Dict[str, Any], section: str, key: Optional[str]) -> Any:
    return cfg[section] if key is None else cfg[section][key]


def _patch_value(patch: Patch, section: str, key: Optional[str], default: Any) -> Any:
    found = default
    for s, k, v in patch:
        if s == section and k == key:
            found = v
    return found


class Matrix:
    """The lazy run matrix: ``len(matrix)``, ``matrix.choice(n)`` (one value index per axis, and the repeat).

    Args:
        base: the resolved base config (every section filled in).
        axes: ``[(axis name, [patch per value])]`` in written order.
        repeats: seeds per grid point.
        exclude: partial configs; a run matching every entry of one of them is dropped.
        post: ``--set`` overrides, applied to every run after the grid.
        file: the recipe, for error messages.
    """

    def __init__(self, base: Dict[str, Any], axes: Sequence[Tuple[str, List[Patch]]], repeats: int,
                 exclude: Sequence[Patch], post: Patch, file: str = "<recipe>"):
        self.base = base
        self._file = file
        self.repeats = int(repeats)
        self.post = tuple(post)
        post_keys = {(s, k) for s, k, _ in self.post}
        #: per axis: (name, [(original value position, patch)]) after dropping values with a repeated effect
        self.axes: List[Tuple[str, List[Tuple[int, Patch]]]] = []
        owner: Dict[Tuple[str, Optional[str]], int] = {}
        for name, patches, coupled in _couple(axes, post_keys, file):
            keys = sorted({(s, k) for patch in patches for s, k, _ in patch if (s, k) not in post_keys},
                          key=lambda sk: (sk[0], sk[1] or ""))
            kept: List[Tuple[int, Patch]] = []
            effects: Dict[str, Tuple[int, str]] = {}
            for position, patch in enumerate(patches):
                value_of = _lookup(base, self.post, patch)
                read = [sk for sk in keys if _reads(sk, value_of)]
                unread = [f"{s}.{k}" for s, k in keys if is_identity_key(s, k) and (s, k) not in read]
                effect = _encode([[s, k, value_of(s, k)] for s, k in read])
                others = [sk for sk in keys if not is_identity_key(*sk) or (not coupled and sk not in read)]
                full = _encode([value_of(s, k) for s, k in others])
                if effect in effects:
                    first, first_full = effects[effect]
                    if full != first_full:
                        raise RecipeError(_one_run_message(first, position, others, unread), file=file,
                                          key=f"grid.{name}")
                    continue
                effects[effect] = (position, full)
                kept.append((position, patch))
            for sk in keys:
                owner[sk] = len(self.axes)
            self.axes.append((name, kept))
        self._owner = owner
        self._seed_axis = owner.get(_SEED)
        self._fixed_seed: Optional[int] = _patch_value(self.post, "seed", None, None)
        if self._fixed_seed is None and self._seed_axis is None:
            self._fixed_seed = base["seed"]
        if self._seed_axis is not None and self.repeats > 1:
            seeds = sorted({_patch_value(p, "seed", None, base["seed"]) for _, p in self.axes[self._seed_axis][1]})
            for a, b in zip(seeds, seeds[1:]):
                if b - a < self.repeats:
                    raise RecipeError(f"seeds {a} and {b} of the grid are less than repeats={self.repeats} apart, so "
                                      f"their repeats would share seeds; space the seeds at least {self.repeats} "
                                      f"apart or drop repeats", file=file, key="grid.seed")
        # Exclude entries as per-dimension predicates (the repeats are the last dimension); entries that can never
        # match are dropped here. Compiling costs a pass over an axis per key: charged to the same work bound.
        work = [0]
        self._index: Dict[Tuple[int, str, Optional[str]], Tuple[Dict[Any, set], List[Tuple[int, Any]]]] = {}
        entries: List[Dict[int, FrozenSet[int]]] = []
        for entry in exclude:
            constraint = self._compile(entry, post_keys, work)
            if constraint is not None:
                entries.append(constraint)
        self._counter = ExcludeCounter([len(values) for _, values in self.axes] + [self.repeats], entries,
                                       file=file, charge=work[0])

    # ------------------------------------------------------------ exclude entries as predicates

    def _compile(self, entry: Patch, post_keys, work: List[int]) -> Optional[Dict[int, FrozenSet[int]]]:
        per_axis: Dict[int, set] = {}
        seed: Optional[int] = None
        for section, key, want in entry:
            sk = (section, key)
            if sk == _SEED:
                if seed is not None and seed != want:
                    return None
                seed = want
                continue
            # A key a run does not read (another method's parameter) never matches it: which runs read it can
            # depend on the axis of its controlling key (training.loss), so the entry constrains that axis.
            controls = [] if key is None else [tuple(p.split(".", 1)) for p in conditions(section, key)]
            axes = {self._owner[c] for c in controls if c in self._owner and c not in post_keys}
            if sk in self._owner and sk not in post_keys:
                axes.add(self._owner[sk])
            if len(axes) > 1:
                raise RecipeError(f"an exclude entry on {section}.{key} cannot be matched: which runs read it depends "
                                  "on several grid axes; set the keys that decide it on one axis", file=self._file,
                                  key="exclude", value=dict(((f"{s}.{k}" if k else s), v) for s, k, v in entry))
            if not axes:
                if not _matches(section, key, want, _lookup(self.base, self.post, ())):
                    return None
                continue
            axis = axes.pop()
            ok = self._matching(axis, section, key, want, work)
            per_axis[axis] = per_axis[axis] & ok if axis in per_axis else ok
            if not per_axis[axis]:
                return None
        if seed is not None and not self._seed_constraint(seed, per_axis):
            return None
        return {a: frozenset(v) for a, v in per_axis.items()}

    def _matching(self, axis: int, section: str, key: Optional[str], want: Any, work: List[int]) -> set:
        """The kept values of ``axis`` whose runs read ``section.key`` and hold ``want`` there.

        The axis's values of the key are indexed once (a pass over the axis), so each entry costs a lookup and
        the values it matches, not a pass: 10^4 entries on a 10^5-value axis stay cheap."""
        index_key = (axis, section, key)
        index = self._index.get(index_key)
        if index is None:
            work[0] += len(self.axes[axis][1])
            check_work(work[0], self._file)
            hashable: Dict[Any, set] = {}
            other: List[Tuple[int, Any]] = []
            for i, (_, patch) in enumerate(self.axes[axis][1]):
                value_of = _lookup(self.base, self.post, patch)
                if not _matches(section, key, value_of(section, key), value_of):
                    continue  # the runs of this value do not read the key: no entry on it matches them
                value = value_of(section, key)
                try:
                    hashable.setdefault(value, set()).add(i)
                except TypeError:  # a list or mapping (a whole section, an AutoAttack list)
                    other.append((i, value))
            index = self._index[index_key] = (hashable, other)
        hashable, other = index
        try:
            found = set(hashable.get(want, ()))
        except TypeError:
            found = set()
            work[0] += len(hashable)
            for value, positions in hashable.items():
                if value == want:
                    found |= positions
        found |= {i for i, value in other if value == want}
        work[0] += len(found) + len(other) + 1
        check_work(work[0], self._file)
        return found

    def _seed_constraint(self, seed: int, per_axis: Dict[int, set]) -> bool:
        """Add to ``per_axis`` what matching ``seed`` takes: the repeat (and the seed axis's value); False when no
        run has that seed. Seeds of a seed axis are at least ``repeats`` apart, so one repeat number fits."""
        repeat_dim = len(self.axes)
        if self._seed_axis is None:
            r = seed - self._fixed_seed
            per_axis[repeat_dim] = {r} if 0 <= r < self.repeats else set()
            return bool(per_axis[repeat_dim])
        values = {i: seed - _patch_value(patch, "seed", None, self.base["seed"])
                  for i, (_, patch) in enumerate(self.axes[self._seed_axis][1])}
        values = {i: r for i, r in values.items() if 0 <= r < self.repeats}
        allowed = per_axis.get(self._seed_axis)
        ok = set(values) if allowed is None else set(values) & allowed
        if not ok:
            return False
        per_axis[self._seed_axis] = ok
        per_axis[repeat_dim] = {values[i] for i in ok}
        return True

    # ------------------------------------------------------------ counting and indexing

    def __len__(self) -> int:
        return self.count()

    def count(self) -> int:
        """Runs in the matrix (may exceed ``sys.maxsize``; ``len()`` of such a matrix raises OverflowError)."""
        return self._counter.count()

    def choice(self, n: int) -> Tuple[Tuple[int, ...], int]:
        """``(kept value position per axis, repeat)`` of run ``n`` (0-based, ``0 <= n < count()``)."""
        point = self._counter.choice(n)
        return point[:-1], point[-1]

    def __iter__(self) -> Iterator[Tuple[Tuple[int, ...], int]]:
        """Every ``choice`` in matrix order, skipping excluded branches without visiting them."""
        for point in self._counter.points():
            yield point[:-1], point[-1]

    # ------------------------------------------------------------ configs

    def config(self, choice: Tuple[Tuple[int, ...], int]) -> Dict[str, Any]:
        """The resolved config of a ``choice`` (fresh dicts; the base is not modified)."""
        picks, repeat = choice
        cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.base.items()}
        for dim, value in enumerate(picks):
            apply_patch(cfg, self.axes[dim][1][value][1])
        apply_patch(cfg, self.post)
        cfg["seed"] = cfg["seed"] + repeat
        return cfg


def _lookup(base: Dict[str, Any], post: Patch, patch: Patch):
    """``value_of(section, key)`` of a run that takes ``patch`` on its axis: the override, else the patch, else
    the base (what the run holds whatever the other axes pick, for keys no other axis sets)."""

    def value_of(section: str, key: Optional[str]) -> Any:
        return _patch_value(post, section, key, _patch_value(patch, section, key, _value(base, section, key)))

    return value_of


def _matches(section: str, key: Optional[str], want: Any, value_of) -> bool:
    """Whether an exclude entry's ``section.key: want`` matches a run: it reads the key and holds that value."""
    if value_of(section, key) != want:
        return False
    return key is None or section == "seed" or not conditions(section, key) or applies(section, key, value_of)


def _reads(sk: Tuple[str, Optional[str]], value_of) -> bool:
    """Whether ``section.key`` is in the id of the run (an identity key the run reads; see schema.applies)."""
    section, key = sk
    return is_identity_key(section, key) and (key is None or section == "seed" or applies(section, key, value_of))


def _one_run_message(first: int, position: int, others, unread: List[str]) -> str:
    names = [f"{s}.{k}" if k else s for s, k in others]
    unread_here = [n for n in names if n in unread]
    if unread_here:
        return (f"values {first} and {position} of this axis differ only in {', '.join(unread_here)}, which these "
                "runs do not read (another training method's or model family's parameter, or a setting its switch "
                "leaves off), so they would be one run; set such a parameter in the same grid entry as the method "
                "or family that reads it, e.g. training: [{loss: trades, trades_beta: 3.0}] (see "
                "recipes/methods-cifar10.yaml)")
    return (f"values {first} and {position} of this axis differ only in settings that do not change the trained "
            f"weights ({', '.join(names)}), so they would be one run; vary them in separate launches (a finished "
            "run is re-evaluated or re-priced, never retrained)")


def _couple(axes: Sequence[Tuple[str, List[Patch]]], post_keys, file: str) -> List[Tuple[str, List[Patch], bool]]:
    """The axes with every run of the same id in one axis: an axis whose keys are read only for some values of a
    key that another axis sets (``training.trades_beta`` on one axis, ``training.loss`` on another) is merged
    with it, and with the axes between them to keep the matrix order, into one axis of their product.

    Per-axis de-duplication is then exact: two runs are one exactly when each (merged) axis picks values of the
    same effect. A merged axis holds its product, so it is bounded by the ``runs`` limit. Returns
    ``(name, patches, merged)`` per axis.
    """
    owner: Dict[Tuple[str, Optional[str]], int] = {}
    for i, (_, patches) in enumerate(axes):
        for patch in patches:
            for s, k, _ in patch:
                owner.setdefault((s, k), i)
    spans: List[Tuple[int, int]] = []
    for i, (_, patches) in enumerate(axes):
        for s, k in {(s, k) for patch in patches for s, k, _ in patch if (s, k) not in post_keys}:
            if k is None or not is_identity_key(s, k):
                continue
            for path in conditions(s, k):
                other = owner.get(tuple(path.split(".", 1)))  # type: ignore[arg-type]
                if other is not None and other != i and tuple(path.split(".", 1)) not in post_keys:
                    spans.append((min(i, other), max(i, other)))
    groups: List[Tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if groups and lo <= groups[-1][1]:
            groups[-1] = (groups[-1][0], max(groups[-1][1], hi))
        else:
            groups.append((lo, hi))
    out: List[Tuple[str, List[Patch], bool]] = []
    i = 0
    for lo, hi in groups + [(len(axes), len(axes))]:
        out.extend((name, patches, False) for name, patches in axes[i:lo])
        if lo == len(axes):
            break
        merged: List[Patch] = [()]
        for _, patches in axes[lo:hi + 1]:
            if len(merged) * len(patches) > limit("runs"):
                names = ", ".join(f"grid.{name}" for name, _ in axes[lo:hi + 1])
                raise RecipeError(
                    f"the axes {names} are coupled (one sets a key that decides whether the other's keys are "
                    f"read, such as training.loss and training.trades_beta), and their product exceeds the runs "
                    f"limit ({limit('runs')}); set each method's parameters in the same grid entry as the method "
                    "(see recipes/methods-cifar10.yaml)", file=file, key=f"grid.{axes[lo][0]}")
            merged = [a + b for a in merged for b in patches]
        out.append((" x ".join(name for name, _ in axes[lo:hi + 1]), merged, True))
        i = hi + 1
    return out


def copy_config(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of a resolved config deep enough for :func:`apply_patch` (each section's mapping is copied)."""
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}


def apply_patch(cfg: Dict[str, Any], patch: Patch) -> Dict[str, Any]:
    """Set each ``(section, key, value)`` of ``patch`` in ``cfg`` (``key`` None: the whole section); returns ``cfg``."""
    for section, key, value in patch:
        if key is None:
            cfg[section] = value
        else:
            cfg[section][key] = value
    return cfg


__all__ = ["Matrix", "Patch", "apply_patch", "copy_config"]

"""Counting and indexing a product of dimensions less the points that exclude entries match, with bounded work.

The run matrix (:mod:`recipes.matrix`) is a product of dimensions: one per grid axis (its kept values) and,
last, the repeats. An exclude entry is, per dimension it constrains, the set of values it matches; a point is
dropped when every constrained dimension of some entry takes a matched value. Counting what is left is counting
the solutions of a formula in conjunctive normal form (each entry is a clause "some constrained dimension takes
another value"), which no algorithm does in polynomial time for every formula (#P-complete). So the cost is
made explicit and bounded instead:

- Dimensions are decided in the written order. At the boundary before dimension ``d`` the count of the rest
  depends only on the *state*: the entries that constrain dimensions on both sides of the boundary and still
  match every dimension decided so far. Entries not yet started are implied; an entry that matched all its
  dimensions drops the branch at once; entries whose remaining constraints are identical are one (only whether
  one of them still matches matters). Entries on adjacent axes, or many entries tying each axis to one other
  (the usual excludes), leave a handful of states per boundary.
- Values of a dimension that no live entry matches lead to one state together, so a dimension costs work in
  proportion to the values its live entries name, not to its length (a billion repeats cost nothing).
- Every step (an entry checked, a value named, a state stored) is charged to the ``exclude_work`` bound of
  :mod:`recipes.limits` (default 1,000,000: at most a few seconds of one CPU core and about 100 MB). An
  exclude list whose entries tie many axes together across the matrix (a state per subset of them) exceeds it
  and is refused at once with a :class:`RecipeError` naming the bound, instead of running for minutes and
  exhausting memory. Time and memory are linear in the bound, whatever the recipe.

The number of states per boundary is stored with its count (of points below), so the N-th point is found by
walking the dimensions once (:meth:`ExcludeCounter.choice`), and all points are listed in order without
visiting excluded branches (:meth:`ExcludeCounter.points`).
"""
from __future__ import annotations

import bisect
from typing import Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

from .errors import RecipeError
from .limits import limit, over_limit_message

__all__ = ["ExcludeCounter", "check_work"]

Constraint = Dict[int, FrozenSet[int]]
State = FrozenSet[int]
#: per (dimension, state): (value -> next state or None for a dropped value, for the values entries name;
#: the next state of every other value; how many values that is; the named values in order)
Transition = Tuple[Dict[int, Optional[State]], State, int, List[int]]


def check_work(work: int, file: str) -> None:
    """Refuse ``work`` steps above the ``exclude_work`` bound (RecipeError naming it and what to change)."""
    if work > limit("exclude_work"):
        raise RecipeError(
            over_limit_message("exclude_work", "the work of counting the runs the exclude entries drop", None)
            + "; entries that each tie several grid axes together make it grow exponentially: exclude on fewer "
            "axes per entry, or on axes written next to each other", file=file, key="exclude")


class ExcludeCounter:
    """The points of ``product(range(n) for n in sizes)`` that no entry matches: counted, indexed, listed.

    Args:
        sizes: the number of values of each dimension (any size, a billion included).
        entries: per exclude entry, ``{dimension: values it matches}``; an entry with no dimension matches
            every point.
        file: the recipe, for the message of a refusal.
        charge: the work already spent (compiling the entries), counted against the same bound.
    Raises:
        RecipeError: the work exceeds the ``exclude_work`` bound.
    """

    def __init__(self, sizes: Sequence[int], entries: Sequence[Constraint], file: str = "<recipe>", charge: int = 0):
        self.sizes = [int(n) for n in sizes]
        self._file = file
        self._budget = limit("exclude_work")
        self._work = 0
        self._charge(charge)
        dims = len(self.sizes)
        # entries that constrain no dimension for real (every value listed) constrain nothing there
        self._entries: List[Constraint] = []
        self._everything = False
        for entry in entries:
            self._charge(1 + sum(len(v) for v in entry.values()))
            kept = {d: frozenset(v) for d, v in entry.items() if len(v) < self.sizes[d]}
            if any(not v for v in kept.values()):
                continue  # matches no value of some dimension: matches nothing
            if not kept:
                self._everything = True
                continue
            self._entries.append(kept)
        self._first = [min(e) for e in self._entries]
        self._last = [max(e) for e in self._entries]
        self._starts: List[List[int]] = [[] for _ in range(dims + 1)]
        for i, first in enumerate(self._first):
            self._starts[first].append(i)
        self._rep = self._representatives()
        self._transitions: List[Dict[State, Transition]] = [{} for _ in range(dims)]
        self._counts: List[Dict[State, int]] = [{} for _ in range(dims + 1)]
        self._count_all()

    # ------------------------------------------------------------ the bound

    def _charge(self, steps: int) -> None:
        self._work += steps
        if self._work > self._budget:
            check_work(self._work, self._file)

    def _representatives(self) -> List[Dict[int, int]]:
        """Per boundary: entry -> the first entry with the same remaining constraints (interchangeable)."""
        reps: List[Dict[int, int]] = [{} for _ in range(len(self.sizes) + 1)]
        groups: List[Dict[Tuple, int]] = [{} for _ in range(len(self.sizes) + 1)]
        for i, entry in enumerate(self._entries):
            dims = sorted(entry)
            for k in range(1, len(dims)):
                rest = tuple((d, entry[d]) for d in dims[k:])
                self._charge(len(rest))
                for boundary in range(dims[k - 1] + 1, dims[k] + 1):
                    reps[boundary][i] = groups[boundary].setdefault(rest, i)
        return reps

    # ------------------------------------------------------------ transitions and counts

    def _transition(self, dim: int, state: State) -> Transition:
        cached = self._transitions[dim].get(state)
        if cached is not None:
            return cached
        active = list(state) + self._starts[dim]
        named: Dict[int, List[int]] = {}
        passing: List[int] = []
        for e in active:
            allowed = self._entries[e].get(dim)
            if allowed is None:
                passing.append(e)
                continue
            self._charge(len(allowed))
            for value in allowed:
                named.setdefault(value, []).append(e)
        self._charge(len(active) + 1)
        rep = self._rep[dim + 1]
        rest = frozenset(rep[e] for e in passing)
        out: Dict[int, Optional[State]] = {}
        for value, matching in named.items():
            self._charge(len(matching) + len(rest))
            if any(self._last[e] == dim for e in matching):
                out[value] = None  # an entry matched every dimension it constrains: the value is dropped
            else:
                out[value] = rest | frozenset(rep[e] for e in matching)
        self._charge(len(out))
        transition = (out, rest, self.sizes[dim] - len(named), sorted(out))
        self._transitions[dim][state] = transition
        return transition

    def _count_all(self) -> None:
        dims = len(self.sizes)
        layers: List[List[State]] = [[frozenset()]]
        for dim in range(dims):
            seen: Dict[State, None] = {}
            for state in layers[dim]:
                out, rest, _, _ = self._transition(dim, state)
                seen.setdefault(rest, None)
                for nxt in out.values():
                    if nxt is not None:
                        seen.setdefault(nxt, None)
            layers.append(list(seen))
        self._counts[dims] = {state: 1 for state in layers[dims]}
        for dim in range(dims - 1, -1, -1):
            below = self._counts[dim + 1]
            for state in layers[dim]:
                out, rest, others, _ = self._transitions[dim][state]
                total = others * below[rest] if others else 0
                for nxt in out.values():
                    if nxt is not None:
                        total += below[nxt]
                self._counts[dim][state] = total

    def count(self) -> int:
        """The number of points no entry matches."""
        return 0 if self._everything else self._counts[0][frozenset()]

    # ------------------------------------------------------------ indexing and listing

    def choice(self, n: int) -> Tuple[int, ...]:
        """The value of each dimension of the ``n``-th point (0-based, in order, the last dimension fastest)."""
        if not 0 <= n < self.count():
            raise IndexError(n)
        state: State = frozenset()
        picks: List[int] = []
        for dim in range(len(self.sizes)):
            out, rest, _, named = self._transition(dim, state)
            below = self._counts[dim + 1]
            each = below[rest]  # points under each value that no entry names
            previous = -1
            for value in named + [self.sizes[dim]]:
                gap = value - previous - 1  # unnamed values between two named ones
                if gap and n < gap * each:
                    picks.append(previous + 1 + n // each)
                    n %= each
                    state = rest
                    break
                n -= gap * each
                if value == self.sizes[dim]:
                    raise AssertionError("index walk ran past the dimension")  # counts are exact: unreachable
                nxt = out[value]
                under = below[nxt] if nxt is not None else 0
                if n < under:
                    picks.append(value)
                    state = nxt  # type: ignore[assignment]
                    break
                n -= under
                previous = value
        return tuple(picks)

    def _next_value(self, dim: int, state: State, start: int) -> Optional[Tuple[int, State]]:
        """The first value from ``start`` on with points below it, and the state it leads to (None: none left)."""
        out, rest, _, named = self._transition(dim, state)
        below = self._counts[dim + 1]
        value = start
        while value < self.sizes[dim]:
            if value in out:
                nxt = out[value]
                if nxt is not None and below[nxt]:
                    return value, nxt
                value += 1
            elif below[rest]:
                return value, rest
            else:  # no unnamed value has points below: jump to the next named one
                i = bisect.bisect_left(named, value)
                if i == len(named):
                    return None
                value = named[i]
        return None

    def points(self) -> Iterator[Tuple[int, ...]]:
        """Every point no entry matches, in order, skipping excluded branches without visiting them."""
        if self.count() == 0:
            return
        dims = len(self.sizes)
        states: List[State] = [frozenset()]
        picks: List[int] = [-1]
        while picks:
            dim = len(picks) - 1
            found = self._next_value(dim, states[-1], picks[-1] + 1)
            if found is None:
                picks.pop()
                states.pop()
                continue
            picks[-1], nxt = found
            if dim + 1 == dims:
                yield tuple(picks)
                continue
            states.append(nxt)
            picks.append(-1)

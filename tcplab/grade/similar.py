"""Similar submissions, per lab: a hint for the instructor, never a penalty.

Three kinds, strongest first:

- **identical**: the same text, comments, layout and names too (line ends and trailing spaces
  aside: a Windows editor does not make a copy look different);
- **same code**: the same token stream once comments, layout, docstrings, the text of strings and
  the names the student chose are set aside (copies.tokens, then names and strings made uniform;
  attribute names such as `lab.sr` stay, they are the API);
- **near-identical**: most of the code each wrote *themselves* is shared. Each submission becomes a
  set of winnowed fingerprints (hashes of k-token runs, Schleimer et al. 2003, the method MOSS
  uses); the fingerprints of the lab's starter and reference are removed first, since every student
  fills in the same TODOs, and so are fingerprints that a large share of the class has (an idiom
  everyone writes). The figure is the Jaccard index of what is left: shared / either.

The starter or the reference as handed out (the same text) is everybody's and is not listed. Code
that is the starter's or the reference's in other words (copies.py flags the latter) is listed only
when the text is the same too: comments and layout then tell of a copy.

Pairs are counted through an index from fingerprint to submissions, and the lexer is one regular
expression: 300 students × 11 labs take about 5 s (bench/similar_bench.py).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import keyword
import re
import zlib
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tcplab.i18n import N_, _

K = 10  # tokens per fingerprinted run: about a short statement
WINDOW = 4  # winnowing window: any shared run of K + WINDOW - 1 tokens is always seen
NEAR = 0.6  # Jaccard index from which two submissions are listed as near-identical
MIN_PRINTS = 6  # fewer fingerprints of one's own than this: too little to compare
COMMON = 0.25  # a fingerprint more than this share of the class has is an idiom, not a copy
MIN_COMMON = 5  # ... but never fewer students than this (a small class)

# the kinds are keys (grade.json's "kind"); shown to people translated, with `_(kind)`
IDENTICAL, SAME_CODE, NEAR_IDENTICAL = N_("identical"), N_("same code"), N_("near-identical")


@dataclass(frozen=True)
class Cluster:
    """Submissions of one lab that look alike. `kind` holds for all of them; `similarity` is the
    lowest figure that joined them (1.0 for identical and same code); `identical` and `same_code`
    name the tighter groups inside a looser cluster; `own_lines` is how many lines the first one
    differs from the starter by (a few lines make identical files less telling)."""

    lab: str
    kind: str
    students: tuple[str, ...]
    similarity: float
    own_lines: int
    identical: tuple[tuple[str, ...], ...] = ()
    same_code: tuple[tuple[str, ...], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "kind": self.kind,
            "students": list(self.students),
            "similarity": self.similarity,
            "own_lines": self.own_lines,
            "identical": [list(g) for g in self.identical],
            "same_code": [list(g) for g in self.same_code],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cluster:
        def groups(key: str) -> tuple[tuple[str, ...], ...]:
            return tuple(tuple(str(s) for s in g) for g in data.get(key) or [])

        return cls(
            str(data["lab"]),
            str(data["kind"]),
            tuple(str(s) for s in data["students"]),
            float(data["similarity"]),
            int(data.get("own_lines", 0)),
            groups("identical"),
            groups("same_code"),
        )

    def words(self, name: Callable[[str], str] = str) -> str:
        """One line for the terminal summary; `name` shows a student's internal id to people."""
        figure = "" if self.kind != NEAR_IDENTICAL else f" ({self.similarity:.0%})"
        line = f"{self.lab}: {', '.join(map(name, self.students))}: {_(self.kind)}{figure}"
        for label, groups in ((IDENTICAL, self.identical), (SAME_CODE, self.same_code)):
            line += "".join(f"; {_(label)}: {' = '.join(map(name, g))}" for g in groups)
        return line


Normal = tuple[str, ...]


_TOKEN = re.compile(
    r"""
     (?P<skip>[ \t\f]+|\\\r?\n|\#[^\r\n]*)
    |(?P<string>[rRbBuUfF]{0,2}(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"
                              |'(?:\\.|[^'\\\r\n])*'|"(?:\\.|[^"\\\r\n])*"))
    |(?P<newline>\r\n|\r|\n)
    |(?P<name>[^\W\d]\w*)
    |(?P<number>\.?\d(?:[eE][-+]|[\w.])*)
    |(?P<op>\*\*=?|//=?|>>=?|<<=?|->|:=|[-+*/%&|^@=!<>]=|\S)
    """,
    re.VERBOSE,
)
_OPEN, _CLOSE = set("([{"), set(")]}")
_KEYWORDS = frozenset(keyword.kwlist)


def normal(source: bytes) -> Normal:
    """The code as a stream of tokens without comments, layout and docstrings (a string alone on
    its line), with the names the student chose and the text of strings made uniform; attribute
    names (after '.') and keywords stay. A fast lexer (one regular expression, not Python's
    tokenizer: ten times faster, and it never fails: any bytes give a stream)."""
    out: list[str] = []
    depth = line = 0  # open brackets; where the logical line started in `out`
    for match in _TOKEN.finditer(source.decode("utf-8", "replace") + "\n"):
        kind, word = match.lastgroup, match.group()
        if kind == "skip" or (kind == "newline" and depth):
            continue
        if kind == "newline":
            if out[line:] == ["S"]:
                del out[line:]  # a docstring, or a string that does nothing
            if len(out) > line:
                out.append(";")
            line = len(out)
            continue
        if kind == "name" and word not in _KEYWORDS and (not out or out[-1] != "."):
            word = "N"
        elif kind == "string":
            word = "S"
        elif word in _OPEN or word in _CLOSE:
            depth = max(0, depth + (1 if word in _OPEN else -1))
        out.append(word)
    return tuple(out)


def fingerprints(stream: Normal) -> frozenset[int]:
    """Winnowed hashes of every K-token run: the smallest of each WINDOW consecutive ones."""
    ids = list(map(_token_id, stream))
    grams = list(map(hash, zip(*(ids[j:] for j in range(K)), strict=False)))  # K-token runs
    if len(grams) <= WINDOW:
        return frozenset(grams)
    return frozenset(map(min, *(grams[j:] for j in range(WINDOW))))


@functools.lru_cache(maxsize=65536)
def _token_id(token: str) -> int:
    # a stable number per token: hash() of a tuple of ints is the same on every run (a str's is
    # salted per process), so the figures are too
    return zlib.crc32(token.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class _Entry:
    student: str
    digest: bytes  # of the text (line ends and trailing spaces aside)
    stream: Normal
    prints: frozenset[int]  # its own: the starter's and the reference's taken out
    given: bool  # its code is the starter's or the reference's (only its text can be alike)


def similar(lab: str, sources: Mapping[str, bytes], shared: Sequence[bytes] = ()) -> list[Cluster]:
    """The clusters of alike submissions of one lab. `sources`: student → solution bytes;
    `shared`: code every student was given or is compared against (the starter, the reference)."""
    given = [normal(b) for b in shared]
    given_text = {text_digest(b) for b in shared}
    discount = frozenset().union(*(fingerprints(s) for s in given))
    entries = []
    for student in sorted(sources):
        digest, stream = text_digest(sources[student]), normal(sources[student])
        if digest not in given_text:  # the starter or the reference as handed out: everyone's
            own = fingerprints(stream) - discount
            entries.append(_Entry(student, digest, stream, own, stream in given))
    edges = _exact_edges(entries) + _near_edges([e for e in entries if not e.given])
    starter = shared[0] if shared else b""
    return [_cluster(lab, group, sources, starter) for group in _groups(entries, edges)]


Edge = tuple[str, str, float]


def text_digest(source: bytes) -> bytes:
    """What "identical" compares: the text, line ends and trailing spaces aside."""
    lines = source.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return hashlib.sha256(b"\n".join(line.rstrip() for line in lines).rstrip()).digest()


def _exact_edges(entries: list[_Entry]) -> list[Edge]:
    """Identical texts; the same code, unless the code is the starter's or the reference's (many
    arrive at the reference's: only the same text, comments and all, tells of a copy then)."""
    by_text: dict[bytes, list[str]] = {}
    by_code: dict[Normal, list[str]] = {}
    for e in entries:
        by_text.setdefault(e.digest, []).append(e.student)
        if not e.given:
            by_code.setdefault(e.stream, []).append(e.student)
    groups = [*by_text.values(), *by_code.values()]
    return [(group[0], other, 1.0) for group in groups for other in group[1:]]


def _near_edges(entries: list[_Entry]) -> list[Edge]:
    """Pairs whose own fingerprints overlap by NEAR or more, counted through an inverted index."""
    big = {e.student: e.prints for e in entries if len(e.prints) >= MIN_PRINTS}
    holders: dict[int, list[str]] = {}
    for student, prints in big.items():
        for p in prints:
            holders.setdefault(p, []).append(student)
    common = max(MIN_COMMON, int(COMMON * len(big)))
    shared: Counter[tuple[str, str]] = Counter()
    for group in holders.values():
        if 1 < len(group) <= common:
            shared.update((a, b) for i, a in enumerate(group) for b in group[i + 1 :])
    edges = []
    for (a, b), n in shared.items():
        jaccard = n / (len(big[a]) + len(big[b]) - n)
        if jaccard >= NEAR:
            edges.append((a, b, round(jaccard, 3)))
    return edges


def _groups(entries: list[_Entry], edges: Iterable[Edge]) -> list[tuple[list[_Entry], float]]:
    """Connected groups of two or more, with the lowest figure that joined each (union-find)."""
    parent = {e.student: e.student for e in entries}

    def root(s: str) -> str:
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    lowest: dict[str, float] = {}
    for a, b, figure in sorted(edges, key=lambda e: (-e[2], e[0], e[1])):  # strongest first
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[rb] = ra
            lowest[ra] = min(figure, lowest.pop(ra, 1.0), lowest.pop(rb, 1.0))
    members: dict[str, list[_Entry]] = {}
    for e in entries:
        members.setdefault(root(e.student), []).append(e)
    groups = [(m, lowest.get(r, 1.0)) for r, m in members.items() if len(m) > 1]
    return sorted(groups, key=lambda g: (-len(g[0]), g[0][0].student))


def _cluster(
    lab: str, group: tuple[list[_Entry], float], sources: Mapping[str, bytes], starter: bytes
) -> Cluster:
    entries, figure = group
    identical = _alike(entries, lambda e: e.digest)
    same_code = _alike(entries, lambda e: e.stream)
    students = tuple(e.student for e in entries)
    if identical == [students]:
        kind, identical, same_code = IDENTICAL, [], []
    elif same_code == [students]:
        kind, same_code = SAME_CODE, []
    else:
        kind = NEAR_IDENTICAL
    same_code = [g for g in same_code if g not in identical]
    first = sources[entries[0].student]
    return Cluster(
        lab, kind, students, figure, own_lines(first, starter), tuple(identical), tuple(same_code)
    )


def _alike(entries: list[_Entry], key: Callable[[_Entry], Hashable]) -> list[tuple[str, ...]]:
    """Groups of two or more entries with the same key, in the entries' order."""
    groups: dict[Hashable, list[str]] = {}
    for e in entries:
        groups.setdefault(key(e), []).append(e.student)
    return [tuple(g) for g in groups.values() if len(g) > 1]


def own_lines(source: bytes, starter: bytes) -> int:
    """Lines of `source` that are not the starter's (added or changed)."""
    mine = source.decode("utf-8", "replace").splitlines()
    given = starter.decode("utf-8", "replace").splitlines()
    matcher = difflib.SequenceMatcher(None, given, mine, autojunk=False)
    return len(mine) - sum(block.size for block in matcher.get_matching_blocks())

"""Similarity hints on real variants of a lab-5 (rst) solution: byte-identical copies, renamed
variables, reformatted code, a different approach, and the starter and reference that many
students share without copying from one another."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tcplab.exercise.catalog import get
from tcplab.grade import similar as S
from tcplab.grade.similar import Cluster

VARIANTS = Path(__file__).resolve().parents[1] / "fixtures" / "similarity"
# alice: her own solution; bob: the same bytes; carol: alice's, names and comments changed;
# dave: alice's reformatted, with a docstring and one more line; erin: another approach;
# frank and hugo: the starter as given; gina: the reference, comments changed
LAB = get("rst")


def sources(*names: str) -> dict[str, bytes]:
    return {n: (VARIANTS / f"{n}.py").read_bytes() for n in names}


def shared() -> list[bytes]:
    return [LAB.starter.read_bytes(), LAB.solution.read_bytes()]


def test_the_class_shows_one_cluster_with_its_identical_and_same_code_groups():
    found = S.similar("rst", sources(*(p.stem for p in VARIANTS.glob("*.py"))), shared())
    assert len(found) == 1
    c = found[0]
    assert (c.kind, c.students) == ("near-identical", ("alice", "bob", "carol", "dave"))
    assert c.identical == (("alice", "bob"),)
    assert c.same_code == (("alice", "bob", "carol"),)
    assert 0.6 <= c.similarity < 1.0
    assert c.own_lines > 10  # alice wrote most of hers herself
    assert Cluster.from_json(c.to_json()) == c


def test_byte_identical_copies_are_identical():
    (c,) = S.similar("rst", sources("alice", "bob"), shared())
    assert (c.kind, c.similarity, c.identical) == ("identical", 1.0, ())


def test_renamed_variables_and_changed_comments_are_the_same_code():
    (c,) = S.similar("rst", sources("alice", "carol"), shared())
    assert (c.kind, c.similarity) == ("same code", 1.0)


def test_reformatted_code_with_a_line_added_is_near_identical():
    (c,) = S.similar("rst", sources("carol", "dave"), shared())
    assert c.kind == "near-identical" and 0.6 <= c.similarity < 1.0
    assert c.words() == f"rst: carol, dave: near-identical ({c.similarity:.0%})"


def test_a_different_approach_is_not_similar():
    assert S.similar("rst", sources("alice", "erin"), shared()) == []
    assert S.similar("rst", sources("dave", "erin"), shared()) == []


def test_the_starter_and_the_reference_make_nobody_similar():
    # frank and hugo hand in the starter unchanged, gina the reference: they share that with the
    # whole class, not with each other
    assert S.similar("rst", sources("frank", "hugo", "gina", "erin"), shared()) == []


def test_the_starter_from_windows_editors_is_still_the_starter():
    crlf = LAB.starter.read_bytes().replace(b"\n", b"\r\n")
    assert S.similar("rst", {"w1": crlf, "w2": crlf + b"  \r\n"}, shared()) == []


def test_the_reference_with_the_same_own_comments_is_identical_but_not_with_others():
    ref = LAB.solution.read_text()
    mine = ref.replace("# (b)", "# (b) the port nobody listens on, see RFC 9293 3.10.7.1")
    (c,) = S.similar("rst", {"p": mine.encode(), "q": mine.encode()}, shared())
    assert (c.kind, c.students) == ("identical", ("p", "q"))
    theirs = ref.replace("# (b)", "# part b")
    assert S.similar("rst", {"p": mine.encode(), "r": theirs.encode()}, shared()) == []


def test_without_the_discount_the_starter_would_join_everybody():
    assert S.similar("rst", sources("frank", "hugo"), []) != []


@pytest.mark.parametrize("lab", ["handshake", "rst", "time-wait", "isn"])
def test_references_that_students_changed_each_their_own_way_are_not_alike(lab):
    """Twelve students each start from the reference and change a different line: what they
    share is the reference's (discounted); what is their own differs."""
    ref = get(lab).solution.read_text().splitlines()
    code = [i for i, line in enumerate(ref) if line.strip() and not line.startswith(("#", '"""'))]
    students = {}
    for n, i in enumerate(code[:12]):
        lines = list(ref)
        lines.insert(i, f"{' ' * (len(ref[i]) - len(ref[i].lstrip()))}trace_{n} = {n} * {i}")
        students[f"s{n}"] = "\n".join(lines).encode()
    given = [get(lab).starter.read_bytes(), get(lab).solution.read_bytes()]
    assert S.similar(lab, students, given) == []


def test_any_bytes_are_compared_and_never_raise():
    broken = {"a": b"def (:\n\xff", "b": b"def (:\n\xff", "c": b"\xff\xfe"}
    (c,) = S.similar("rst", broken, shared())
    assert (c.kind, c.students) == ("identical", ("a", "b"))
    assert S.normal(b"x = '''open") and S.normal(b"\x00\r\n)))")


def test_layout_comments_docstrings_and_line_ends_do_not_change_the_stream():
    plain = b"def f(a, b):\n    return a + b  # sum\n"
    other = b'def g(x,\r\n      y):\r\n    """Add."""\r\n\r\n    return x + \\\r\n        y'
    assert S.normal(plain) == S.normal(other)
    assert S.normal(b"lab.sr(p)") != S.normal(b"lab.send(p)")  # the API's names stay


def test_three_hundred_submissions_take_well_under_a_second_each():
    """A lab of 300 submissions: 280 of their own (the reference with its names changed and lines
    added), 20 copies of one of them. (bench/similar_bench.py measures 300 × 11 labs.)"""
    ref = LAB.solution.read_text()
    students = {}
    for n in range(280):
        students[f"s{n:03}"] = (
            ref.replace("challenge", f"c{n}") + f"\nfor i in range({n}):\n    print(i * {n})\n"
        ).encode()
    for n in range(20):
        students[f"copy{n:02}"] = students["s007"]
    t0 = time.monotonic()
    found = S.similar("rst", students, shared())
    took = time.monotonic() - t0
    assert any(set(c.students) >= {"s007", "copy00", "copy19"} for c in found)
    assert took < 15, took

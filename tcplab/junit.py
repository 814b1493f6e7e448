"""JUnit XML, the one writer: `tcplab run --junit` (one <testsuite> of scenarios) and the junit.xml
of `tcplab grade` (a <testsuites> of one suite per student and lab).

The counts (tests, failures, errors) are always those of the cases written. Callers decide how text
they did not write is made safe (escaped or dropped: see tcplab.text); this module then drops what
XML 1.0 cannot hold at all, so the file always parses. Pure: the standard library's ElementTree only.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (most C0 controls, lone surrogates, FFFE)."""
    return _NOT_XML.sub("", text)


@dataclass(frozen=True)
class Problem:
    """Why a case did not pass: a <failure> (the thing tested was wrong) or, with `error`, an
    <error> (it could not be judged)."""

    message: str
    text: str = ""
    type: str | None = None
    error: bool = False


@dataclass(frozen=True)
class Case:
    classname: str
    name: str
    file: str | None = None
    time: float | None = None
    problem: Problem | None = None


@dataclass(frozen=True)
class Suite:
    """A <testsuite>. Output streams and time are written when given (None: left out)."""

    name: str
    cases: Sequence[Case]
    properties: Sequence[tuple[str, str]] = ()
    stdout: str | None = None
    stderr: str | None = None
    time: float | None = None
    skipped: int | None = None

    @property
    def failures(self) -> int:
        return sum(c.problem is not None and not c.problem.error for c in self.cases)

    @property
    def errors(self) -> int:
        return sum(c.problem is not None and c.problem.error for c in self.cases)


def suite_xml(suite: Suite, indent: bool = False) -> bytes:
    """A document whose root is the one <testsuite>."""
    return _document(_suite(suite), indent)


def suites_xml(name: str, suites: Sequence[Suite], indent: bool = False) -> bytes:
    """A document whose root is <testsuites>, with the counts and time of all its suites."""
    root = _element("testsuites", name=name)
    root.extend(_suite(s) for s in suites)
    _counts(
        root,
        sum(len(s.cases) for s in suites),
        sum(s.failures for s in suites),
        sum(s.errors for s in suites),
    )
    root.set("time", _seconds(sum(s.time or 0.0 for s in suites)))
    return _document(root, indent)


def _document(root: ET.Element, indent: bool) -> bytes:
    tree = ET.ElementTree(root)
    if indent:
        ET.indent(tree)
    out = io.BytesIO()
    tree.write(out, encoding="utf-8", xml_declaration=True)
    return out.getvalue()


def _element(tag: str, text: str = "", **attrs: str | None) -> ET.Element:
    el = ET.Element(tag, {k: xml_safe(v) for k, v in attrs.items() if v is not None})
    el.text = xml_safe(text) if text else None
    return el


def _seconds(time: float) -> str:
    return f"{time:.3f}"


def _counts(el: ET.Element, tests: int, failures: int, errors: int) -> None:
    el.set("tests", str(tests))
    el.set("failures", str(failures))
    el.set("errors", str(errors))


def _suite(suite: Suite) -> ET.Element:
    el = _element("testsuite", name=suite.name)
    if suite.properties:
        props = ET.SubElement(el, "properties")
        props.extend(_element("property", name=k, value=v) for k, v in suite.properties)
    el.extend(_case(c) for c in suite.cases)
    for tag, stream in (("system-out", suite.stdout), ("system-err", suite.stderr)):
        if stream is not None:
            el.append(_element(tag, stream))
    _counts(el, len(suite.cases), suite.failures, suite.errors)
    if suite.time is not None:
        el.set("time", _seconds(suite.time))
    if suite.skipped is not None:
        el.set("skipped", str(suite.skipped))
    return el


def _case(case: Case) -> ET.Element:
    time = None if case.time is None else _seconds(case.time)
    el = _element("testcase", classname=case.classname, name=case.name, file=case.file, time=time)
    p = case.problem
    if p is not None:
        el.append(
            _element("error" if p.error else "failure", p.text, message=p.message, type=p.type)
        )
    return el

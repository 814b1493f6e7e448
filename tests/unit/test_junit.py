"""The one JUnit writer (tcplab.junit): the exact documents `tcplab run --junit` and `tcplab grade`
write, counts that match the cases, and a document that parses whatever text it is given."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from tcplab import junit

FAIL = junit.Problem("2 mismatch(es)", "c1: expected SYN, got RST (<why>)")


def test_a_run_is_one_testsuite_without_time_on_one_line() -> None:
    cases = [
        junit.Case("tcplab.scenarios", "good", file="scenarios/good.toml"),
        junit.Case("tcplab.scenarios", "bad", file="scenarios/bad.toml", problem=FAIL),
    ]
    assert junit.suite_xml(junit.Suite("tcplab", cases)) == (
        b"<?xml version='1.0' encoding='utf-8'?>\n"
        b'<testsuite name="tcplab" tests="2" failures="1" errors="0">'
        b'<testcase classname="tcplab.scenarios" name="good" file="scenarios/good.toml" />'
        b'<testcase classname="tcplab.scenarios" name="bad" file="scenarios/bad.toml">'
        b'<failure message="2 mismatch(es)">c1: expected SYN, got RST (&lt;why&gt;)</failure>'
        b"</testcase></testsuite>"
    )


def test_a_class_is_testsuites_whose_counts_and_time_add_up() -> None:
    passed = junit.Case("alice.handshake", "sends a SYN", time=0.0)
    failed = junit.Case("alice.handshake", "uses the ISN", time=0.0, problem=FAIL)
    broken = junit.Problem("no lab", "trace", type="environment_error", error=True)
    suites = [
        junit.Suite("alice/handshake", [passed, failed], [("verdict", "scored")], "", "", 1.25, 0),
        junit.Suite("carol/handshake", [junit.Case("carol.handshake", "graded", problem=broken)]),
    ]
    data = junit.suites_xml("tcplab grade", suites, indent=True).decode()
    assert data.startswith(
        "<?xml version='1.0' encoding='utf-8'?>\n"
        '<testsuites name="tcplab grade" tests="3" failures="1" errors="1" time="1.250">\n'
        '  <testsuite name="alice/handshake" tests="2" failures="1" errors="0" time="1.250"'
        ' skipped="0">\n'
        "    <properties>\n"
        '      <property name="verdict" value="scored" />\n'
        "    </properties>\n"
        '    <testcase classname="alice.handshake" name="sends a SYN" time="0.000" />\n'
    )
    assert "<system-out />\n    <system-err />\n" in data
    root = ET.fromstring(data)
    error = root.find("testsuite[@name='carol/handshake']/testcase/error")
    assert error is not None and error.get("type") == "environment_error"
    assert root.find("testsuite[@name='carol/handshake']").get("time") is None  # type: ignore[union-attr]


@given(st.text())
def test_any_text_anywhere_makes_a_document_that_parses_and_keeps_what_xml_allows(
    text: str,
) -> None:
    problem = junit.Problem(text, text, type=text)
    suite = junit.Suite(text, [junit.Case(text, text, file=text, problem=problem)], [(text, text)])
    root = ET.fromstring(junit.suites_xml(text, [suite]))
    case = root.find("testsuite/testcase")
    kept = junit.xml_safe(text)
    assert case is not None and case.get("name") == case.get("file") == kept
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == failure.get("type") == kept
    assert (failure.text or "") == kept.replace("\r\n", "\n").replace("\r", "\n")  # XML's own


def test_xml_safe_drops_what_xml_forbids_and_keeps_the_rest() -> None:
    assert (
        junit.xml_safe("a\x00b\x1b[31m\tc\nd\ud800\ufffee\U0001f600") == "ab[31m\tc\nde\U0001f600"
    )

"""Numbers as lab feedback shows them (signed, relative to the right ISN) and the confusions named."""

from hypothesis import given
from hypothesis import strategies as st

from tcplab.exercise.numbers import Field, Numbers, diagnose, rel_text, signed

ISS, IRS = 1000, 3_000_000_000  # the student's ISN, the kernel's


def nums(seq: int, ack: int, **kw: object) -> Numbers:
    base = dict(want_seq=ISS + 1, want_ack=IRS + 1, iss=ISS, irs=IRS)
    base.update(kw)
    return Numbers(seq, ack, **base)  # type: ignore[arg-type]


def test_signed_never_wraps():
    assert signed(1) == "+1"
    assert signed(0) == "+0"
    assert signed(-1) == "-1"
    assert signed(2**32 - 1) == "-1"  # a difference taken mod 2**32


@given(st.integers(0, 2**32 - 1), st.integers(-(2**20), 2**20))
def test_rel_text_is_signed_and_never_shows_a_wraparound(base, off):
    text = rel_text((base + off) % 2**32, base, "your")
    assert text == f"your ISN{signed(off)}"
    assert "+ -" not in text and "42949" not in text


def test_a_number_far_from_the_isn_is_shown_as_it_is():
    assert rel_text(1, IRS, "the kernel's") == "1"


def test_right_numbers_have_no_diagnosis():
    assert diagnose(nums(ISS + 1, IRS + 1), Field.SEQ) is None
    assert diagnose(nums(ISS + 1, IRS + 1), Field.ACK) is None


def test_the_syn_not_counted_in_the_ack():
    text = diagnose(nums(ISS + 1, IRS, theirs_before=("SA", 0)), Field.ACK)
    assert text == (
        "your ack was the kernel's ISN+0, the kernel expected its ISN+1: "
        "one short: its SYN occupies one sequence number"
    )


def test_the_syn_not_counted_in_the_seq():
    text = diagnose(nums(ISS, IRS + 1, mine_before=("S", 0)), Field.SEQ)
    assert text is not None and "one short: your SYN occupies one sequence number" in text
    assert "your seq was your ISN+0, the kernel expected your ISN+1" in text


def test_the_fin_not_counted():
    text = diagnose(nums(ISS + 1, IRS + 1, want_ack=IRS + 2, theirs_before=("FA", 0)), Field.ACK)
    assert text is not None and "its FIN occupies one sequence number" in text


def test_a_relative_number_used_as_absolute():
    text = diagnose(nums(ISS + 1, 1), Field.ACK)
    assert text is not None and "relative number (as Wireshark shows it)" in text
    assert text.startswith("your ack was 1, the kernel expected its ISN+1 (3000000001)")


def test_seq_and_ack_swapped():
    n = nums(IRS + 1, ISS + 1)
    assert "seq and ack are swapped" in (diagnose(n, Field.SEQ) or "")
    assert "seq and ack are swapped" in (diagnose(n, Field.ACK) or "")


def test_the_ack_counted_from_the_students_own_isn():
    text = diagnose(nums(ISS + 1, ISS + 1, want_seq=ISS + 5), Field.ACK)
    assert text is not None and "counts from your own ISN" in text


def test_a_bare_ack_counted_as_one():
    text = diagnose(nums(ISS + 2, IRS + 1, mine_before=("A", 0)), Field.SEQ)
    assert text is not None and "a bare ACK (no data, SYN or FIN) uses no sequence number" in text


def test_data_not_counted():
    n = nums(ISS + 1, IRS + 1, want_seq=ISS + 6, mine_before=("PA", 5))
    assert "your 5 bytes of data were not counted" in (diagnose(n, Field.SEQ) or "")


def test_otherwise_the_signed_distance():
    text = diagnose(nums(ISS + 1, IRS + 9), Field.ACK)
    assert text == "your ack was the kernel's ISN+9, the kernel expected its ISN+1 (+8)"


def test_no_expectation_no_diagnosis():
    assert diagnose(nums(5, 5, want_seq=None, want_ack=None), Field.SEQ) is None

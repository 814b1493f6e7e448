from hypothesis import given
from hypothesis import strategies as st

from tcplab.model.seqnum import (
    MOD,
    relative,
    seq_add,
    seq_ge,
    seq_gt,
    seq_in_window,
    seq_le,
    seq_lt,
    seq_sub,
)

seqs = st.integers(min_value=0, max_value=MOD - 1)
steps = st.integers(min_value=1, max_value=(1 << 31) - 1)


@given(seqs, steps)
def test_adding_less_than_half_the_space_moves_forward_even_across_wraparound(a, n):
    b = seq_add(a, n)
    assert seq_lt(a, b) and seq_gt(b, a)
    assert seq_le(a, b) and seq_ge(b, a)
    assert seq_sub(b, a) == n


@given(seqs)
def test_a_number_is_neither_before_nor_after_itself(a):
    assert not seq_lt(a, a) and not seq_gt(a, a)
    assert seq_le(a, a) and seq_ge(a, a)


@given(seqs, st.integers(min_value=-(1 << 40), max_value=1 << 40))
def test_addition_stays_in_32_bits(a, n):
    assert 0 <= seq_add(a, n) < MOD


@given(seqs, st.integers(min_value=0, max_value=MOD - 1))
def test_relative_undoes_addition(base, offset):
    assert relative(seq_add(base, offset), base) == offset


@given(
    seqs, st.integers(min_value=0, max_value=1 << 30), st.integers(min_value=0, max_value=1 << 20)
)
def test_window_holds_exactly_left_to_left_plus_size(left, offset, size):
    assert seq_in_window(seq_add(left, offset), left, size) == (offset < size)


def test_wraparound_example():
    assert seq_add(MOD - 1, 1) == 0
    assert seq_lt(MOD - 10, 5)
    assert seq_sub(5, MOD - 10) == 15


def test_signed_relative_numbers_read_as_a_person_would():
    from tcplab.model.seqnum import signed

    assert signed(1001, 1000) == 1
    assert signed(999, 1000) == -1
    assert signed(5, (1 << 32) - 5) == 10  # across the wrap
    assert signed((1 << 32) - 1, 0) == -1

"""A stateful Hypothesis test of the endpoint: any sequence of segments, calls, kernel segments and
timers keeps the TCB sound (snd_una <= snd_nxt, the place one of the table's), never answers a RST
with a RST, and predicts exactly what one row of the table says."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tcplab.model.endpoint import Endpoint, Prediction, Sysctls, classify
from tcplab.model.flags import Flags
from tcplab.model.segment import Option, Segment
from tcplab.model.seqnum import seq_add, seq_le
from tcplab.model.table import Input, Place, case_for, lookup

FLAGS = st.sampled_from(["S", "SA", "A", "PA", "FA", "R", "RA", "F", "", "SF", "FPA"])
OFFSETS = st.sampled_from([0, 0, 0, -1, 1, 5, 100, 64000, 65000, -70000, 1 << 31])
APPS = st.sampled_from([i for i in Input if i.name.startswith("APP_") and i is not Input.APP_SEND])


class EndpointMachine(RuleBasedStateMachine):
    @initialize(
        listen=st.booleans(),
        sysctls=st.builds(
            Sysctls,
            tcp_rfc1337=st.integers(0, 1),
            tcp_syncookies=st.integers(0, 2),
            tcp_fin_timeout=st.integers(1, 120),
        ),
        backlog=st.integers(0, 3),
    )
    def start(self, listen, sysctls, backlog):
        self.ep = Endpoint(sysctls=sysctls, backlog=backlog)
        self.now = 0.0
        self.ep.call(Input.APP_LISTEN if listen else Input.APP_CONNECT, self.now)
        self.kernel_isn = 5000

    def _send_like(self, p: Prediction) -> None:
        """The kernel sent what was predicted: feed it back as an observation."""
        if p.pattern is None:
            return
        seq = p.pattern.seq if p.pattern.seq is not None else self.kernel_isn
        ack = p.pattern.ack or 0
        self.ep.observe(
            Segment(7788, 40000, p.pattern.flags, seq, ack, 502, (Option("wscale", 7),))
        )

    @rule(flags=FLAGS, dseq=OFFSETS, dack=OFFSETS, data=st.booleans(), dt=st.floats(0, 2))
    def crafted(self, flags, dseq, dack, data, dt):
        ep = self.ep
        self.now += dt
        seq = seq_add(ep.rcv_nxt if ep.rcv_nxt is not None else 1000, dseq)
        ack = seq_add(ep.snd_nxt if ep.snd_nxt is not None else 5001, dack)
        seg = Segment(40000, 7788, Flags.from_letters(flags), seq, ack, 64240, (), b"x" * data * 3)
        place, inp = ep.place, classify(ep, seg)
        expected = case_for(lookup(place, inp), ep.guards(seg, self.now))
        p = ep.receive(seg, self.now)
        assert p.rule == expected.rule
        if Flags.RST in seg.flags and p.pattern is not None:
            assert p.pattern.flags == Flags.ACK and p.rule.startswith("rst-in-window")
        self._send_like(p)

    @rule(call=APPS, dt=st.floats(0, 2))
    def app(self, call, dt):
        self.now += dt
        self._send_like(self.ep.call(call, self.now))

    @rule(length=st.sampled_from([0, 1, 9, 536, 1448, 3000]), dt=st.floats(0, 2))
    def send(self, length, dt):
        self.now += dt
        before = self.ep.snd_nxt
        preds = self.ep.send(length, self.now)
        sent = sum(p.pattern.length or 0 for p in preds if p.pattern is not None)
        assert sent in (0, length) and (sent == 0) == all(p.silence for p in preds)
        if sent and before is not None:
            assert self.ep.snd_nxt == seq_add(before, length)
        for p in preds:
            self._send_like(p)

    @rule()
    def timer(self):
        if self.ep.deadline is not None:
            self.now = max(self.now, self.ep.deadline)
            p = self.ep.fire(self.now)
            assert p is not None and p.cause.startswith("timer")
            self._send_like(p)

    @invariant()
    def sound(self):
        ep = getattr(self, "ep", None)
        if ep is None:
            return
        assert isinstance(ep.place, Place)
        if ep.snd_una is not None and ep.snd_nxt is not None:
            assert seq_le(ep.snd_una, ep.snd_nxt)
        assert ep.syn_queue >= 0 and ep.accept_queue >= 0
        if ep.deadline is not None:
            assert ep.deadline >= 0


EndpointMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=30, deadline=None
)
TestEndpointMachine = EndpointMachine.TestCase

"""A socket-table stretch keeps when it was last read (Sample.read), so a timer's deadline is known
even when the stretch outlives the run (time-wait's restarted TIME_WAIT timer)."""

from __future__ import annotations

from pathlib import Path

from tcplab.exercise.checker import Sampler
from tcplab.exercise.kit import Sample
from tcplab.exercise.recording import Recording
from tcplab.model.endpoint import Sysctls
from tcplab.model.state import State


def test_a_stretch_keeps_its_first_time_and_its_last_read():
    kept: list[Sample] = []
    Sampler._keep(kept, Sample(10.0, State.TIME_WAIT, "timewait", 60_000, 0, 10.0))
    Sampler._keep(kept, Sample(12.5, State.TIME_WAIT, "timewait", 59_400, 0, 12.5))
    assert len(kept) == 1
    assert (kept[0].time, kept[0].read, kept[0].expires_ms) == (10.0, 12.5, 59_400)


def test_the_last_read_survives_a_recording_and_older_ones_load_without_it(tmp_path: Path):
    samples = {(40000, 7788): [Sample(1.0, State.TIME_WAIT, "timewait", 60_000, 0, 3.0)]}
    rec = Recording("time-wait", "10.77.0.2", [], samples, [], [], Sysctls(), 0, False)
    path = tmp_path / "r.json"
    rec.save(path)
    again = Recording.load(path)
    assert again.samples == rec.samples
    text = path.read_text().replace('"read": 3.0', '"read": null')
    path.write_text(text)
    assert Recording.load(path).samples[(40000, 7788)][0].read is None

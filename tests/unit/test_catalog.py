"""A course's own labs folder (--labs DIR) is input too: malformed numbers and hostile titles."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcplab.errors import DefinitionError
from tcplab.exercise.catalog import all_labs


def _lab(root: Path, toml: str) -> Path:
    folder = root / "mine"
    folder.mkdir(parents=True)
    (folder / "lab.toml").write_text(toml)
    return root


@pytest.mark.parametrize(
    "field", ["order = 1e400", "time_limit = nan", "time_limit = 1e9", "port = 0", "order = true"]
)
def test_a_number_out_of_range_in_lab_toml_is_a_definition_error(
    tmp_path: Path, field: str
) -> None:
    with pytest.raises(DefinitionError, match="give a number from"):
        all_labs(_lab(tmp_path, f'[lab]\ntitle = "t"\n{field}\n'))


def test_a_title_cannot_carry_escape_sequences(tmp_path: Path) -> None:
    (lab,) = all_labs(_lab(tmp_path, '[lab]\ntitle = "a\\u001b]0;pwned\\u0007\\u202eb"\n'))
    assert lab.title == "a]0;pwnedb"


def test_a_course_checks_py_written_with_the_kits_old_conn_name_still_loads_and_scores(
    tmp_path: Path,
) -> None:
    from tcplab.exercise.kit import Observation, ObservedConn

    root = _lab(tmp_path, '[lab]\ntitle = "t"\n')
    (root / "mine" / "checks.py").write_text(
        "from tcplab.exercise.kit import Checklist, Conn, Observation\n"
        "checks = Checklist()\n"
        "@checks.add('one connection', 2, hint='connect')\n"
        "def one(obs: Observation) -> bool:\n"
        "    conn: Conn | None = obs.conn()\n"
        "    return isinstance(conn, Conn) and conn.kport == 7788\n"
    )
    (lab,) = all_labs(root)
    obs = Observation([ObservedConn(40000, 7788)], [], 0, False)
    (scored,) = lab.checklist().run(obs)
    assert scored.ok and scored.earned == 2
    assert not lab.checklist().run(Observation([], [], 0, False))[0].ok

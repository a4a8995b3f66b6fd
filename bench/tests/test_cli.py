"""The bench runners' flags: a 0 given is refused with a usage error, never taken
for the default (``bench.common.cli.fill_defaults``)."""

import pytest

from bench import __main__ as delivery
from bench.api import run as api
from bench.blackfriday import run as blackfriday
from bench.scale import run as scale

COUNTED = [
    (blackfriday.parse, "--rounds"),
    (blackfriday.parse, "--rate"),
    (blackfriday.parse, "--seconds"),
    (blackfriday.parse, "--drain-seconds"),
    (api.parse, "--seconds"),
    (scale.parse, "--messages"),
    (scale.parse, "--cost-messages"),
    (scale.parse, "--workers"),
    (delivery.parse, "--messages"),
    (delivery.parse, "--single-messages"),
    (delivery.parse, "--seconds"),
    (delivery.parse, "--rate"),
]


@pytest.mark.parametrize(("parse", "flag"), COUNTED)
def test_a_zero_is_refused_not_taken_for_the_default(parse, flag, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse([flag, "0"])
    assert stopped.value.code == 2
    assert "must be positive" in capsys.readouterr().err


def test_a_flag_left_out_takes_its_default_with_and_without_quick():
    assert (blackfriday.parse(["--quick"]).rounds, blackfriday.parse([]).rounds) == (
        1,
        2,
    )
    assert (api.parse(["--quick"]).warmup, api.parse(["--warmup", "0"]).warmup) == (
        1.0,
        0.0,
    )
    quick = delivery.parse(["--quick", "--messages", "300"])
    assert quick.single_messages == 300  # --quick: the same count as --messages
    assert delivery.parse([]).single_messages == 20_000

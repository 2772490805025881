"""benchmarks/bench_meta_decoder.py: a realistic or full run's files carry the level (and keep the committed names)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_meta_decoder.py"
_SPEC = importlib.util.spec_from_file_location("bench_meta_decoder", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = bench
_SPEC.loader.exec_module(bench)


@pytest.mark.parametrize(("tag", "quick", "realism", "want"), [
    (None, False, "off", ""),
    (None, True, "off", "_quick"),
    (None, False, "realistic", "_realistic"),
    (None, True, "full", "_quick_full"),
    ("_x", False, "full", "_x_full"),
    ("_amortised_k1gapa2cx50sh_seed1_2018_realistic", False, "realistic",
     "_amortised_k1gapa2cx50sh_seed1_2018_realistic"),
    ("_ceiling_full_2019", False, "full", "_ceiling_full_2019"),
    ("_fullish", False, "full", "_fullish_full"),
    ("_ceiling_full_m1_2018", False, "full_m1", "_ceiling_full_m1_2018"),
    ("_ceiling_full_m1_2018", False, "full", "_ceiling_full_m1_2018_full"),
    (None, False, "full_m1", "_full_m1"),
    ("_ceiling_full_m1_k10_2018", False, "full_m1", "_ceiling_full_m1_k10_2018"),
    ("_ceiling_full_m1_k10_2018", False, "full", "_ceiling_full_m1_k10_2018_full"),
    ("_ceiling_full_k10_2018", False, "full", "_ceiling_full_k10_2018"),
])
def test_output_tag_names_the_realism_once(tag, quick, realism, want):
    assert bench.output_tag(tag, quick, realism) == want


def test_the_committed_realism_runs_keep_their_names():
    figures = _PATH.parent / "figures"
    tags = [(f"_amortised_k1gapa2cx50sh_seed1_2018_{level}", level) for level in ("realistic", "full")]
    tags += [("_ceiling_full_2019", "full"), ("_ceiling_off_2019", "off")]
    for tag, level in tags:
        assert (figures / f"meta_decoder{bench.output_tag(tag, False, level)}.csv").is_file()


@pytest.mark.parametrize("ceiling", [[], ["--ceiling", "kalman"]])
def test_ceiling_carry_needs_a_linear_ceiling(ceiling, capsys):
    """--ceiling-carry carries a linear read-out: without one it is refused before anything runs."""
    with pytest.raises(SystemExit) as stop:
        bench.main(["--references-only", "--ceiling-carry", *ceiling])
    assert stop.value.code == 2
    assert "--ceiling-carry carries a linear ceiling" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--daily", "3"], "--daily plays the Gaussian map inference day after day: give --gaussian-map, "
                       "got --daily 3"),
    (["--gaussian-map", "--daily", "-1"], "--daily must be an integer >= 0 (days after the first "
                                          "session), got -1"),
    (["--gaussian-map", "--daily-seconds", "200"], "--daily-seconds is the length of --daily's "
                                                   "sessions: give --daily N > 0"),
    (["--gaussian-map", "--daily", "2", "--daily-seconds", "60"], "--daily-seconds must be at least "
                                                                  "--seconds (120: each day"),
    (["--gaussian-map", "{speed: 1}"], "--gaussian-map must be a JSON object of GaussianMapInference "
                                      "arguments, got '{speed: 1}'"),
    (["--gaussian-map", "[1]"], "--gaussian-map must be a JSON object of GaussianMapInference "
                                "arguments, got '[1]'"),
])
def test_bad_gaussian_map_and_daily_arguments_are_refused_before_anything_runs(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.main(["--references-only", *argv])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def _plot_module():
    path = _PATH.parent / "plot_meta_decoder_daily.py"
    spec = importlib.util.spec_from_file_location("plot_meta_decoder_daily", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_daily_figure_is_drawn_from_the_committed_tables(tmp_path):
    plot = _plot_module()
    out = plot.main(["--out", str(tmp_path / "daily.png")])
    assert out.is_file() and out.stat().st_size > 10_000
    import pandas as pd

    table = pd.read_csv(_PATH.parent / "figures" / "meta_decoder_gaussian_map_daily_full_m1_k10_2018.csv")
    shares = plot.daily_shares(table, "gaussian_map_inference")
    assert shares.index.tolist() == list(range(1, 8))
    assert shares[5] == pytest.approx(0.808, abs=5e-4)
    with pytest.raises(ValueError, match="the table has no 'error_map_inference_daily_day_G' rows"):
        plot.daily_shares(table, "error_map_inference")

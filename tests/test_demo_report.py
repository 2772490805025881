"""The demo report and its figures: every link resolves whatever ``--out`` was, a quick figure
shows its effect or says it is too short to, and every figure is readable (axis labels, a legend
entry for every labelled artist, no text outside the figure)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from cogmodels.demo import run_demo
from cogmodels.experiments import get_experiment, resolve_config, run_experiment
from cogmodels.experiments._common import TOO_SHORT

#: the fastest demo experiments (a few seconds together, serially, in the quick setting)
FAST = ("bandit_recovery", "dopamine")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


pytestmark = pytest.mark.usefixtures("silence_warnings")


# -- helpers -----------------------------------------------------------------------------------------
def links(report: Path) -> list[str]:
    """The targets of the markdown links and images of ``report``."""
    return _LINK.findall(report.read_text(encoding="utf-8"))


def broken_links(report: Path) -> list[str]:
    """The local link targets of ``report`` that are no file, resolved against its folder."""
    return [t for t in links(report)
            if not re.match(r"[a-z]+:", t) and not (report.parent / t.split("#")[0]).is_file()]


def figure_problems(fig: Figure) -> list[str]:
    """What makes ``fig`` hard to read: an Axes without an x or y label (unless an Axes it
    shares that axis with has one), a labelled artist missing from every legend, a text
    outside the figure."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    problems = []
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    entries = {t.get_text() for leg in legends for t in leg.get_texts()}
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        where = f"axes {i} ({ax.get_title()!r})"
        for axis, shared in (("x", ax.get_shared_x_axes()), ("y", ax.get_shared_y_axes())):
            label = getattr(ax, f"get_{axis}label")
            if not label().strip() and not any(getattr(s, f"get_{axis}label")().strip()
                                               for s in shared.get_siblings(ax)):
                problems.append(f"{where}: no {axis} label")
        artists = [*ax.lines, *ax.collections, *ax.containers, *ax.patches, *ax.images]
        for art in artists:
            lab = art.get_label()
            if lab and not lab.startswith("_") and lab not in entries:
                problems.append(f"{where}: {type(art).__name__} {lab!r} has no legend entry")
    box = fig.bbox
    texts = [*fig.texts, *(t for leg in legends for t in (*leg.get_texts(), leg.get_title()))]
    for ax in fig.axes:
        if ax.get_visible():
            texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label,
                      *ax.texts]
    for t in texts:  # tick labels are left to the layout (those off the view are not drawn)
        if not (t.get_visible() and t.get_text().strip()):
            continue
        ext = t.get_window_extent(renderer)
        if ext.x0 < box.x0 - 1 or ext.y0 < box.y0 - 1 or ext.x1 > box.x1 + 1 or ext.y1 > box.y1 + 1:
            problems.append(f"text {t.get_text()!r} is clipped: {ext.bounds} outside {box.bounds}")
    return problems


def figure_texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(Text))


# -- the demo, relative and absolute --out -----------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    """The fast demo experiments run twice, with a relative and an absolute ``--out``; every
    figure saved on the way is kept (by file name) for the quality checks."""
    root = tmp_path_factory.mktemp("demo")
    figures: dict[str, Figure] = {}
    save = Figure.savefig

    def recording(self, fname, *args, **kwargs):
        name = re.match(r"\.?(.+?\.png)", Path(str(fname)).name)
        figures[name.group(1) if name else str(fname)] = self
        return save(self, fname, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp.setattr(Figure, "savefig", recording)
        mp.chdir(root)
        relative = root / run_demo("demo-output", experiments=FAST, executor="serial")
        absolute = run_demo(root / "elsewhere" / "out", experiments=FAST, executor="serial")
    return {"relative": relative, "absolute": absolute, "figures": figures}


@pytest.mark.parametrize("which", ["relative", "absolute"])
def test_every_link_of_the_demo_reports_resolves(demo, which):
    report = demo[which]
    assert report.is_absolute() and report.is_file()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report.read_text())
    assert len(images) == len(FAST)  # one headline figure per experiment
    assert all(not Path(i).is_absolute() and "demo-output" not in i and "elsewhere" not in i for i in images)
    assert broken_links(report) == []
    for name in FAST:
        sub = report.parent / name / "report.md"
        assert sub.is_file() and links(sub)
        assert broken_links(sub) == [], sub
        assert any(t.startswith("figures/") for t in links(sub))


def test_run_suite_links_figures_given_as_paths_relative_to_the_working_directory(tmp_path, monkeypatch):
    """An experiment's report may return its figures as ``out / "figures" / name`` with a
    relative ``out``: the suite report still links them relative to itself."""
    from cogmodels.experiments import Experiment, register, run_suite, save_figure

    def report(config, tables, out):
        fig = Figure(figsize=(2, 2))
        fig.subplots().plot(tables["t"]["x"])
        return "![x](figures/x.png)", [save_figure(fig, Path(out) / "figures" / "x.png")]

    register(Experiment(
        name="test_relative_figure", description="A test-only experiment.", defaults={"n": 1},
        quick={}, units=_one_unit, run_unit=_one_table, report=report,
    ), replace=True)
    monkeypatch.chdir(tmp_path)
    out = run_suite(["test_relative_figure"], Path("a") / "b", progress=False)
    report_md = out / "report.md"
    assert "![test_relative_figure](test_relative_figure/figures/x.png)" in report_md.read_text()
    assert broken_links(report_md) == []


def _one_unit(config):
    return [{"i": 0}]


def _one_table(config, unit, seed):
    return {"t": pd.DataFrame({"x": [0.0, 1.0]})}


def test_demo_figures_are_labelled_legended_and_unclipped(demo):
    figures = demo["figures"]
    assert {"parameter_recovery.png", "model_recovery.png", "prediction_errors.png",
            "transfer.png"} <= set(figures)
    for name, fig in figures.items():
        if name.endswith(".png"):
            assert figure_problems(fig) == [], name


# -- figures of the slower experiments, from small tables -----------------------------------------
def _config(name: str, **params):
    return resolve_config({"experiment": name, "params": params}, quick=True)


def _regret_tables(gru: float) -> dict[str, pd.DataFrame]:
    means = {"gru_a2c": gru, "bayes_optimal": 1.7, "thompson": 2.8, "ucb1": 5.6, "greedy": 2.8,
             "random": 17.0}
    regret = pd.DataFrame([{"agent": a, "mean_regret": m, "ci_low": m - 1.0, "ci_high": m + 1.0,
                            "n_episodes": 300} for a, m in means.items()])
    curve = pd.DataFrame({"agent": "gru_a2c", "update": np.arange(1, 151),
                          "regret": np.linspace(17.0, gru, 150)})
    return {"regret": regret, "learning_curve": curve}


@pytest.mark.parametrize("gru", [16.5, 8.0])
def test_meta_rl_figure_says_when_the_gru_has_not_learned(gru, tmp_path):
    from cogmodels.experiments import meta_rl_bandit

    config = _config("meta_rl_bandit")
    figs = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(meta_rl_bandit, "save", lambda fig, out, name: figs.append(fig) or Path(name))
        md, _ = meta_rl_bandit.report(config, _regret_tables(gru), tmp_path)
    (fig,) = figs
    assert figure_problems(fig) == []
    text = figure_texts(fig)
    # the training signal is named: the quick setting trains on the sampled reward (no hidden state)
    assert "the sampled reward" in text and "the sampled reward" in md
    assert (TOO_SHORT in text) == (gru > 15.0) == (TOO_SHORT in md)


def _bci_tables(reward_only_hits: int) -> dict[str, pd.DataFrame]:
    rows = []
    for dec in ("fixed", "daily_recalibration", "refit_rml", "rti_rml", "reward_only"):
        for day in (0, 7):
            for subject in (0, 1):
                k = reward_only_hits if dec == "reward_only" else 10 - day // 2 + subject
                rows.append({"decoder": dec, "day": day, "subject": subject, "n_trials": 12,
                             "n_success": k, "success_rate": k / 12, "successes_per_min": 3.0 * k,
                             "time_to_target": 1.0 + day / 7 if k else np.nan,
                             "bitrate": max(2 * k - 12, 0) * np.log2(7) / 20.0})
    per_subject = pd.DataFrame(rows)
    metrics = per_subject.groupby(["decoder", "day"], sort=False).mean(numeric_only=True).reset_index()
    return {"metrics_per_subject": per_subject, "metrics": metrics.drop(columns="subject")}


@pytest.mark.parametrize("hits", [0, 8])
def test_bci_figure_says_when_a_decoder_never_hit_a_target(hits, tmp_path):
    from cogmodels.experiments import bci_drift

    figs = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bci_drift, "save", lambda fig, out, name: figs.append(fig) or Path(name))
        md, _ = bci_drift.report(_config("bci_drift"), _bci_tables(hits), tmp_path)
    (fig,) = figs
    assert figure_problems(fig) == []
    text = figure_texts(fig)
    assert (TOO_SHORT in text) == (hits == 0) == (TOO_SHORT in md)
    # axis labels with units, not column names
    assert {ax.get_ylabel() for ax in fig.axes} >= {"successes per minute", "time to target (s)",
                                                   "bitrate (bits/s)"}
    assert all(ax.get_xlabel() == "day of drift" for ax in fig.axes)
    # the legend is outside every panel: it hides no line
    legend = fig.axes[-1].get_legend()
    assert legend is not None
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    lb = legend.get_window_extent(canvas.get_renderer())
    assert all(not lb.overlaps(ax.get_window_extent(canvas.get_renderer())) for ax in fig.axes)


@pytest.mark.parametrize("gru_hits", [0, 3])
def test_meta_decoder_figure_is_readable_and_says_when_the_gru_never_hit(gru_hits, tmp_path):
    from cogmodels.experiments import bci_meta_decoder

    config = _config("bci_meta_decoder")
    rows = []
    for d in bci_meta_decoder.DECODERS:
        for session, length in ((0, config["first_s"]), (1, config["next_s"])):
            k = gru_hits if d == "amortised_gru" else 4
            rows += [{"decoder": d, "session": session, "time": length * (i + 1) / (k + 1),
                      "success": True} for i in range(k)]
    tables = bci_meta_decoder.combine(config, {"trials": pd.DataFrame(rows)})
    curve = tables["learning_curve"]
    assert curve["window_end_s"].max() == config["first_s"]
    # successes/min: 4 successes over the session, n subjects, as a rate per minute and subject
    fresh = tables["summary"].set_index(["decoder", "session"])["successes_per_min"]
    assert fresh[("fresh_kalman", "from nothing (day d)")] == pytest.approx(
        4 * 60.0 / (config["first_s"] * config["n_subjects"]))
    figs = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bci_meta_decoder, "save", lambda fig, out, name: figs.append(fig) or Path(name))
        md, _ = bci_meta_decoder.report(config, tables, tmp_path)
    (fig,) = figs
    assert figure_problems(fig) == []
    assert (TOO_SHORT in figure_texts(fig)) == (gru_hits == 0) == (TOO_SHORT in md)


def test_two_step_figure_is_readable():
    from cogmodels.experiments.two_step import _figure

    stay = pd.DataFrame([{"agent": a, "previous_reward": r, "previous_transition": t,
                          "p_stay": 0.5 + 0.1 * i, "sem": 0.03}
                         for i, a in enumerate(("two_step_mf", "two_step_mb", "two_step_hybrid"))
                         for r in ("rewarded", "unrewarded") for t in ("common", "rare")])
    assert figure_problems(_figure(stay)) == []


def test_rlwm_figure_is_readable(tmp_path):
    from cogmodels.experiments import rlwm

    rows = [{"source": s, "set_size": n, "iteration": i, "p_correct": min(1.0, 0.3 + 0.1 * i - 0.02 * n),
             "sem": 0.05, "n": 3} for s in ("data", "model") for n in (2, 3, 4, 5, 6) for i in range(1, 12)]
    fits = pd.DataFrame({"loglik": [-100.0, -90.0], "bic": [220.0, 200.0]})
    tables = {"setsize_curves": pd.DataFrame(rows), "fits": fits,
              "parameter_summary": pd.DataFrame({"param": ["alpha"], "mean": [0.1]})}
    figs = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rlwm, "save", lambda fig, out, name: figs.append(fig) or Path(name))
        rlwm.report(_config("rlwm"), tables, tmp_path)
    (fig,) = figs
    assert figure_problems(fig) == []
    ax = fig.axes[0]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    r = canvas.get_renderer()
    assert not ax.get_legend().get_window_extent(r).overlaps(ax.get_window_extent(r))


# -- the compare and recover figures ------------------------------------------------------------------
@pytest.fixture(scope="module")
def bandit_trials() -> pd.DataFrame:
    from cogmodels.models import make_model
    from cogmodels.simulate import simulate

    model = make_model("q_learning")
    return simulate(model, model.default_params(), "cogmodels/MultiArmedBandit-v0", n_subjects=4,
                    seed=0, env_kwargs={"n_trials": 60}, latents=False).trials


@pytest.mark.parametrize("cv_folds", [None, 2])
def test_comparison_figure_is_readable(bandit_trials, cv_folds):
    from cogmodels.fits import compare_models

    result = compare_models(bandit_trials, ["q_learning", "wsls", "random"], n_starts=1, seed=0,
                            cv_folds=cv_folds)
    fig = result.plot()
    assert figure_problems(fig) == []
    assert len(fig.axes) == (3 if cv_folds else 2)
    assert any("chance" in t.get_text() for leg in fig.legends for t in leg.get_texts())


def test_recovery_figures_are_readable():
    from cogmodels.fits.recovery import model_recovery, parameter_recovery
    from cogmodels.models import make_model

    env = "cogmodels/MultiArmedBandit-v0"
    rec = parameter_recovery(make_model("q_learning"), env, n_subjects=6, env_kwargs={"n_trials": 40},
                             n_starts=1, seed=0)
    fig = rec.plot()
    assert figure_problems(fig) == []
    texts = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert texts[0] == "estimate" and "identity (fitted = true)" in texts
    if rec.table["on_bound"].any():  # the crosses are explained
        assert "estimate on a bound" in texts
    models = model_recovery([make_model("wsls"), make_model("random")], env, n_subjects=2,
                            env_kwargs={"n_trials": 40}, n_starts=1, seed=0)
    assert figure_problems(models.plot()) == []


# -- the quick settings show their effect -------------------------------------------------------------
@pytest.mark.slow
def test_quick_meta_rl_gru_beats_random_choice(tmp_path):
    """The demo's quick GRU (seed 0, unit 0 as in the demo) scores below random choice (the
    CLI test of tests/test_experiments.py checks seed 1 and the reward-only BCI decoder)."""
    from cogmodels.experiments.meta_rl_bandit import gru_learned

    config = resolve_config({"experiment": "meta_rl_bandit", "params": {"agents": ["gru_a2c", "random"]}},
                            quick=True, seed=0)
    res = run_experiment(config, tmp_path / "meta_rl", executor="serial", progress=False)
    assert res.ok
    md = (res.path / "report.md").read_text()
    regret = pd.read_csv(res.path / "results" / "regret.csv")
    assert gru_learned(regret, get_experiment("meta_rl_bandit").defaults["n_trials"])
    gru, rnd = (regret.set_index("agent").loc[a, "mean_regret"] for a in ("gru_a2c", "random"))
    assert gru < rnd - 3.0
    assert TOO_SHORT not in md and "the sampled reward" in md

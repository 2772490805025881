"""The closed-loop decoder as an agent: rollout drives it, its adaptation learns between bins."""

from __future__ import annotations

import numpy as np
import pytest

import cogmodels  # noqa: F401
from cogmodels.agent import Learner
from cogmodels.agents.decoders import RML, Assist, KalmanDecoder
from cogmodels.agents.decoders.closed_loop import ClosedLoopAgent
from cogmodels.agents.decoders.session import calibration_block, run_closed_loop
from cogmodels.envs.bci import CursorBCIVector
from cogmodels.rollout import rollout

KW = {"num_envs": 2, "n_units": 32}


def _block():
    """A calibration block of the subjects of seed 3."""
    cal = CursorBCIVector(**KW, n_trials=10**6)
    cal.reset(seed=3)
    return calibration_block(cal, 15.0)


@pytest.fixture(scope="module")
def decoder():
    return KalmanDecoder().fit(*_block())



def test_the_agent_learns_each_bin_of_the_clock_in_both_autoreset_modes():
    """The assist ticks once per bin of the clock, reset steps included: after n bins its level
    is a0 (1 - n dt / T) (Orsborn et al. 2012's linear ramp); RML changes the decoder's model;
    a same_step env plays as well as the BCI's default next_step one."""
    a0, ramp, n = 0.5, 10.0, 250  # 5 s of 20 ms bins
    for mode in ("same_step", "next_step"):
        dec = KalmanDecoder().fit(*_block())
        before = dec.H_.copy()
        env = CursorBCIVector(**KW, n_trials=2, autoreset_mode=mode)
        env.reset(seed=3)
        env.reset(options={"day": 1})  # the same subjects, a new session (lanes end at different bins)
        assist = Assist(level=a0, seconds=ramp)
        agent = ClosedLoopAgent(dec, env.config, adaptation=RML(dec, half_life=5.0), assist=assist)
        assert isinstance(agent, Learner)
        assert rollout(agent, env, n_steps=n, reseed=False, record=None) is None
        assert agent.bins_ == n
        assert assist.level_ == pytest.approx(a0 * (1.0 - n * 0.02 / ramp), abs=1e-12)
        assert not np.array_equal(dec.H_, before)
        table = agent.trial_table()
        assert table["subject"].value_counts().max() > 2  # sessions of 2 trials ended and restarted
        assert (np.diff(table["time"].to_numpy()[table["subject"].to_numpy() == 0]) > 0).all()


def test_the_agent_names_what_it_was_given_wrong(decoder):
    env = CursorBCIVector(**KW)
    with pytest.raises(ValueError, match=r"intention must be one of \['refit', 'intended', 'rti', 'ofc'\], got 'oracle'"):
        ClosedLoopAgent(decoder, env.config, intention="oracle")
    with pytest.raises(TypeError, match="assist must be an Assist or None, got float"):
        ClosedLoopAgent(decoder, env.config, assist=0.5)
    with pytest.raises(ValueError, match=r"gain must be one number or one per lane \(2\)"):
        ClosedLoopAgent(decoder, env.config, gain=[1.0, 1.0, 1.0]).initial_state(2)


def test_a_session_ending_in_every_lane_at_once_plays_on_with_the_reset_info():
    """Gymnasium's next_step autoreset of every copy at once returns the reset info (the new
    session's cursor and target), so the assist has its target on the next bin; it was a
    KeyError while that step's info was empty. Sessions of one trial: every trial ends one."""
    env = CursorBCIVector(num_envs=1, n_units=32, n_trials=1)
    env.reset(seed=3)
    one = KalmanDecoder().fit(*(a[:, :1] for a in _block()))
    table = run_closed_loop(env, one, 20.0, assist=Assist(level=0.5))
    assert len(table) >= 2  # at least two sessions, each ended by its one trial
    assert (np.diff(table["time"].to_numpy()) > 0).all()

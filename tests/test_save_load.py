"""Save/load (JSON + npz, no pickle) of the decoders, learners and adaptation state beyond ``Decoder``.

Each case builds an object, uses it (learning, steps, refits), saves it, and then continues the
unsaved object and the loaded one — in this process and in a fresh one — on the same inputs: the
continuations must be the same bytes. The cases are source text, so the fresh process runs the
very same code.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from cogmodels.agents.decoders.base import load_decoder
from cogmodels.agents.saving import FORMATS, generator

#: imports and helpers shared by every case (run here and in the fresh process)
COMMON = """
import numpy as np
import pandas as pd
import torch
from functools import partial
from cogmodels.agents.decoders.base import load_decoder
from cogmodels.envs.bci import CursorBCIVector

def env(seed=0, **kw):
    e = CursorBCIVector(num_envs=2, n_trials=10**6, error_signal="realistic", **kw)
    e.reset(seed=seed, options={"day": 0})
    return e

def load(path):
    return load_decoder(path)

def flat(*parts):
    return np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in parts])

def table(t):
    return t.select_dtypes("number").to_numpy(dtype=np.float64)
"""

#: the closed-loop cases' shared part: a seed filter, two rollouts, the loader given the config
CLOSED_LOOP = """
from cogmodels.agents.decoders import (RML, Assist, BiasCorrection, SmoothBatch,
                                       SteadyStateKalmanDecoder)
from cogmodels.agents.decoders.closed_loop import ClosedLoopAgent
from cogmodels.agents.decoders.session import calibration_block
from cogmodels.rollout import rollout

def run(agent, seed):
    rollout(agent, env(seed), n_steps=150, reseed=False, options={"day": 0}, record=None)
    return agent.trial_table()

def agent_of(**kw):
    e = env(0)
    dec = SteadyStateKalmanDecoder(dt=e.config.task.dt).fit(*calibration_block(e, 5.0, day=0))
    agent = ClosedLoopAgent(dec, e.config, **{k: v(dec) if k == "adaptation" else v
                                              for k, v in kw.items()})
    run(agent, 1)
    return agent

def load(path):
    return load_decoder(path, config=env().config)
"""

#: each case: ``make()`` the used object, ``used(obj)`` that it is mid-use, ``go(obj)`` the
#: continuation (a flat array); ``load(path)`` when the default ``load_decoder(path)`` won't do
CASES = {
    "reward_outcome_weighted": """
from cogmodels.agents.decoders.reward import RewardDecoder

def make():
    dec = RewardDecoder(env().single_observation_space.shape[0], 2, calibration_s=2, refit_s=1,
                        seed=3)
    dec.train(env(1), seconds=8)
    return dec

def used(dec):
    return dec.features.ready and np.abs(dec.weights()).sum() > 0

def go(dec):
    h = dec.train(env(2), seconds=4)
    g = dec.evaluate(env(3), seconds=1, greedy=False)
    return flat(dec.weights(), dec.features.projection, table(h), table(g), dec.n_bins,
                [r.random() for r in dec.learner.rngs])
""",
    "reward_actor_critic": """
from cogmodels.agents.decoders.reward import RewardDecoder

def make():
    dec = RewardDecoder(env().single_observation_space.shape[0], 2, rule="actor_critic",
                        calibration_s=2, refit_s=1, seed=4)
    dec.train(env(1), seconds=6)
    return dec

def used(dec):
    return dec.features.ready and np.abs(dec.weights()).sum() > 0

def go(dec):
    h = dec.train(env(2), seconds=3)
    return flat(dec.weights(), table(h), dec.n_bins, [a.rng.random() for a in dec.learner.agents])
""",
    "target_hmm": """
from cogmodels.agents.decoders.target_hmm import TargetHMM, target_grid

def make():
    return TargetHMM(target_grid(1.0, 4), stay=0.99, kappa=3.0)

def used(hmm):
    return hmm.n_states == 16

def go(hmm):
    rng = np.random.default_rng(0)
    v, p = rng.normal(size=(50, 2)), rng.uniform(-1, 1, size=(50, 2))
    log_e = hmm.log_emission(v, p, rng.random(50) < 0.05)
    return flat(hmm.posterior(log_e)[0], hmm.viterbi(log_e), hmm.infer(v, p)[1])
""",
    "outcome_recalibration": """
from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.outcome_recalibration import (
    OutcomeRecalibration, OutcomeRecord, _refit, play_session, pri_t_model)
from cogmodels.agents.decoders.session import calibration_block

def session(recal, seed):
    e = env(seed)
    recal.begin_session()
    rec = OutcomeRecord()
    t = play_session(e, recal.driver(), 6.0, day=0, record=rec, refit_at=[3.0, 6.0],
                     refit=partial(_refit, recal, rec, None))
    return t

def make():
    e = env(0)
    recal = OutcomeRecalibration(pri_t_model(e, None), e.config.error_signal, dt=e.config.task.dt,
                                 n_iter=2, prior_s=2.0, error_weight=0.5)
    recal.start(SteadyStateKalmanDecoder(dt=recal.dt).fit(*calibration_block(e, 5.0, day=0)))
    session(recal, 1)
    return recal

def used(recal):
    return recal.n_updates_ == 2 and recal._previous is not recal.decoder_

def go(recal):
    t = session(recal, 2)
    return flat(table(t), recal.decoder_.H_, recal.decoder_.velocity_, recal.scale_,
                recal.n_updates_)
""",
    "closed_loop_rml": CLOSED_LOOP + """
def make():
    return agent_of(gain=1.2, adaptation=lambda dec: RML(dec, half_life=2.0),
                    assist=Assist(0.5, 10.0), bias=BiasCorrection(tau=1.0))

def used(agent):
    return (agent.adaptation.n_updates_ > 0 and agent.assist.elapsed_ > 0
            and np.abs(agent.bias.bias_).sum() > 0 and agent.adaptation.decoder is agent.decoder)

def go(agent):
    t = run(agent, 2)
    a = agent.adaptation
    return flat(table(t), agent.decoder.H_, a.stats.zz, a.stats.yy, a._clock, a.n_updates_,
                agent.bias.bias_, agent.assist.level_, agent.bins_)
""",
    "closed_loop_smoothbatch_rti": CLOSED_LOOP + """
def make():
    return agent_of(adaptation=lambda dec: SmoothBatch(dec, batch_s=1.0, half_life=2.0,
                                                       min_bins=10),
                    intention="rti", assist=Assist(0.3, 20.0), bias=BiasCorrection(1.0))

def used(agent):
    return agent.adaptation.n_updates_ > 0 and agent._rti is not None

def go(agent):
    t = run(agent, 2)
    a = agent.adaptation
    return flat(table(t), agent.decoder.H_, a.stats.zz, a._clock, agent.bias.bias_,
                agent.assist.level_)
""",
    "rml_alone": """
from cogmodels.agents.decoders import RML, KalmanDecoder

def make():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(200, 2, 2))
    y = rng.poisson(np.exp(0.3 * v @ rng.normal(size=(2, 6))))
    rml = RML(KalmanDecoder().fit(y, v), half_life=1.0, update_s=0.1)
    for t in range(32):
        rml.observe(y[t], v[t])
        rml.tick()
    rml.decoder.decode(y[:7])
    return rml

def used(rml):
    return rml.n_updates_ > 0 and rml._clock > 0

def go(rml):
    rng = np.random.default_rng(1)
    out = []
    for _ in range(23):
        y, v = rng.poisson(2.0, size=(2, 6)), rng.normal(size=(2, 2))
        out.append(rml.decoder.step(y).copy())
        rml.observe(y, v)
        rml.tick()
    return flat(out, rml.decoder.H_, rml.stats.zy, rml.n_updates_)
""",
    "calibration_stats": """
from cogmodels.agents.decoders import RML, SteadyStateKalmanDecoder

def make():
    rng = np.random.default_rng(2)
    v = rng.normal(size=(150, 2, 2))
    y = rng.poisson(np.exp(0.3 * v @ rng.normal(size=(2, 5))))
    dec = SteadyStateKalmanDecoder().fit(y, v, sample_weight=rng.uniform(0.5, 1.0, (150, 2)))
    dec.decode(y[:9])
    return dec

def used(dec):
    return dec.stats_.n.min() > 0 and np.abs(dec.velocity_).sum() > 0

def go(dec):
    # the calibration continued from the saved statistics and refitted, then adapted by RML
    rng = np.random.default_rng(3)
    y, v = rng.poisson(2.0, size=(40, 2, 5)), rng.normal(size=(40, 2, 2))
    dec.stats_.add(y[:20], v[:20])
    dec.set_encoding(*dec.stats_.solve(dec.ridge))
    rml = RML(dec, half_life=1.0, update_s=0.1)
    out = []
    for t in range(20, 40):
        out.append(dec.step(y[t]).copy())
        rml.observe(y[t], v[t])
        rml.tick()
    s = dec.stats_
    return flat(out, s.zz, s.zy, s.yy, s.n, rml.stats.zy, dec.H_, dec.q_)
""",
    "meta_rnn_plastic": """
from cogmodels.agents.decoders.meta_rnn import MetaRNNDecoder

def make():
    dec = MetaRNNDecoder(num_envs=2, session_s=1.0, hidden_size=8, rollout_len=10,
                         calibration_s=0.3, refit_s=0.3, half_life_s=1.0, head="plastic",
                         max_day=3)
    return dec.fit(1, progress=False)

def used(dec):
    return dec.n_updates_ > 0 and len(dec.optimizer.state) > 0

def go(dec):
    dec.fit(1, progress=False)
    t = dec.play([2], seconds=1.0, seed=5)
    p = torch.cat([q.detach().ravel() for q in dec.model_.parameters()]).numpy()
    return flat(p, table(t), dec.n_updates_, dec.n_sessions_, dec.history_["policy_loss"])
""",
    "meta_rnn_linear": """
from cogmodels.agents.decoders.meta_rnn import MetaRNNDecoder

def make():
    dec = MetaRNNDecoder(num_envs=2, session_s=1.0, hidden_size=8, rollout_len=10,
                         calibration_s=0.3, refit_s=0.3, half_life_s=1.0, max_day=3)
    return dec.fit(1, progress=False)

def used(dec):
    return dec.n_updates_ > 0

def go(dec):
    dec.fit(1, progress=False)
    p = torch.cat([q.detach().ravel() for q in dec.model_.parameters()]).numpy()
    return flat(p, dec.play([1], seconds=1.0, seed=2)["time"])
""",
    "amortised_map_decoder": """
from cogmodels.agents.decoders.amortised_map import AmortisedMapDecoder, AmortisedMapNet

def make():
    torch.manual_seed(0)
    net = AmortisedMapNet(hidden_size=8, head="posterior", n_maps=8, evaluations=True).eval()
    dec = AmortisedMapDecoder(net, 2, readout="sample", sample_explore=True, interval_bins=4,
                              latency_bins=2, seed=1)
    feed(dec, 0, 37)  # mid-chunk: a summary in progress
    return dec

def feed(dec, seed, n):
    rng, out = np.random.default_rng(seed), []
    for _ in range(n):
        out.append(dec.act(rng.normal(size=(2, 2))))
        dec.observe(rng.integers(-1, 3, size=2))
    return out

def used(dec):
    return dec.h is not None and dec._t % 5 != 0

def go(dec):
    a = feed(dec, 1, 40)
    return flat(a, dec.map_, dec.h, dec.choice_, dec.rng.random())
""",
    "amortised_map_net": """
from cogmodels.agents.decoders.amortised_map import AmortisedMapNet

def make():
    torch.manual_seed(2)
    return AmortisedMapNet(hidden_size=8, gap_input=True).eval()

def used(net):
    return not net.training

def go(net):
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 5, net.input_size))).float()
    with torch.no_grad():
        m, logit, h = net(x)
    return flat(m, logit, h)
""",
    "gain_bandit_assist_bias": """
from cogmodels.agents.decoders import Assist, BiasCorrection
from cogmodels.agents.reward_learners import GainBandit
from cogmodels.agents.saving import save, load as load_object

def make():
    b = Bundle()
    b.step(0, 20)
    return b

class Bundle:
    def __init__(self):
        self.bandit, self.assist, self.bias = GainBandit(2, seed=0), Assist(0.5, 1.0), BiasCorrection(1.0)

    def step(self, seed, n):
        rng, out = np.random.default_rng(seed), []
        for _ in range(n):
            self.bandit.observe(rng.random(2) < 0.5, rng.random(2) < 0.5, rng.random(2))
            out += [self.bandit.choose(), self.bias(rng.normal(size=(2, 2))), self.assist.tick()]
        return out

    def save(self, path):
        for name in ("bandit", "assist", "bias"):
            save(getattr(self, name), f"{path}_{name}")
        return path

def load(path):
    b = Bundle.__new__(Bundle)
    for name in ("bandit", "assist", "bias"):
        setattr(b, name, load_object(f"{path}_{name}"))
    return b

def used(b):
    return b.assist.elapsed_ > 0 and b.bandit.seconds_.sum() > 0

def go(b):
    return flat(*b.step(1, 15))
""",
}


def _namespace(name: str) -> dict:
    ns: dict = {}
    exec(COMMON + CASES[name], ns)  # noqa: S102 - this file's own source text
    return ns


#: the fresh process: load every saved case and print its continuation
FRESH = """
import json, sys
import numpy as np
import torch
torch.set_num_threads(1)  # as the parent: a GRU's sums round by thread count
cases, paths, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
results = {}
for name, code in cases.items():
    ns = {}
    exec(code, ns)
    results[name] = ns["go"](ns["load"](paths[name]))
np.savez(out, **results)
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every case made, used, saved, then continued unsaved, loaded here and loaded afresh.

    torch runs on one thread here and in the fresh process: its sums round by thread count, and
    other tests in this process may have left it at any (the fresh copy of a network differed in
    the last bits under ``make test`` until both were pinned).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _runs(tmp_path_factory)
    finally:
        torch.set_num_threads(threads)


def _runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    out = {}
    paths = {}
    for name in CASES:
        ns = _namespace(name)
        obj = ns["make"]()
        assert ns["used"](obj), f"{name}: the object must be mid-use when saved"
        paths[name] = str(obj.save(folder / name))
        back = ns["load"](paths[name])
        out[name] = {"unsaved": ns["go"](obj), "loaded": ns["go"](back)}
    code = {name: COMMON + src for name, src in CASES.items()}
    proc = subprocess.run([sys.executable, "-c", FRESH, json.dumps(code), json.dumps(paths),
                           str(folder / "fresh.npz")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(folder / "fresh.npz") as fresh:
        for name in CASES:
            out[name]["fresh"] = fresh[name]
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_a_loaded_object_continues_bit_identically_here_and_in_a_fresh_process(runs, name):
    r = runs[name]
    assert r["unsaved"].size > 0 and np.isfinite(r["unsaved"]).all()
    np.testing.assert_array_equal(r["loaded"], r["unsaved"])
    np.testing.assert_array_equal(r["fresh"], r["unsaved"])


def test_the_continuation_depends_on_the_saved_random_state(tmp_path):
    """The check can fail: a loaded reward decoder with another exploration stream diverges."""
    ns = _namespace("reward_outcome_weighted")
    dec = ns["make"]()
    back = load_decoder(dec.save(tmp_path / "rd"))
    back.learner.seed(np.random.SeedSequence(99).spawn(back.n_lanes))
    assert not np.array_equal(ns["go"](back), ns["go"](dec))


def test_saved_files_hold_the_format_class_settings_and_array_shapes(tmp_path):
    ns = _namespace("closed_loop_rml")
    agent = ns["make"]()
    meta = json.loads(agent.save(tmp_path / "agent").read_text())
    assert meta["format"] == FORMATS[-1] and meta["class"] == "ClosedLoopAgent"
    assert "config" not in meta["state"] and "record" not in meta["state"]
    assert meta["state"]["adaptation"]["$object"]["state"]["decoder"] == {"$ref": "decoder."}
    order = meta["layouts"].get("decoder.H_", [0, 1, 2])  # a transposed view is kept as one
    assert meta["arrays"]["decoder.H_"][0] == list(agent.decoder.H_.transpose(order).shape)
    with np.load(tmp_path / "agent.npz", allow_pickle=False) as npz:
        assert set(npz.files) == set(meta["arrays"])


def _saved_bias(tmp_path):
    from cogmodels.agents.decoders import BiasCorrection

    b = BiasCorrection(1.0)
    b(np.ones((2, 2)))
    return b, b.save(tmp_path / "bias")


def test_load_errors_name_the_problem(tmp_path):
    _, path = _saved_bias(tmp_path)
    meta = json.loads(path.read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**meta, "format": "cogmodels.decoder/9"}))
    with pytest.raises(ValueError, match=re.escape(
            f"path must be a decoder saved with format one of {list(FORMATS)}, got "
            "'cogmodels.decoder/9'")):
        load_decoder(bad)
    bad.write_text(json.dumps({**meta, "class": "Popen"}))
    with pytest.raises(ValueError, match=r"^the saved class must be one of \[.*'TargetHMM'.*\], "
                                         r"got 'Popen' in '.*bad\.json'$"):
        load_decoder(bad)
    bad.write_text(json.dumps(meta))
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"path must name a saved object's .json and .npz files, but "
            f"{str(tmp_path / 'bad.npz')!r} does not exist")):
        load_decoder(bad)
    with pytest.raises(FileNotFoundError, match=re.escape(f"{str(tmp_path / 'none.json')!r} does "
                                                          "not exist")):
        load_decoder(tmp_path / "none")
    np.savez(tmp_path / "bad.npz", **{"bias_": np.zeros((3, 2))})
    with pytest.raises(ValueError, match=re.escape(
            f"the array 'bias_' of {str(tmp_path / 'bad.npz')!r} must have shape (2, 2) and dtype "
            "'<f8' as bad.json records, got ((3, 2), '<f8')")):
        load_decoder(bad)
    np.savez(tmp_path / "bad.npz", other=np.zeros(1))
    with pytest.raises(ValueError, match=re.escape(
            "the array 'bias_' of " + repr(str(tmp_path / "bad.npz")) + " must have shape (2, 2) "
            "and dtype '<f8' as bad.json records, got no such array")):
        load_decoder(bad)
    with pytest.raises(TypeError, match=re.escape(
            "load got values for ['config'], which BiasCorrection saves itself; it takes only []")):
        load_decoder(path, config=None)
    (tmp_path / "bad.npz").write_bytes(path.with_name("bias.npz").read_bytes())  # valid arrays
    bad.write_text(json.dumps({**meta, "class": "SteadyStateKalmanDecoder"}))  # a decoder root too
    with pytest.raises(TypeError, match=re.escape(
            "load got values for ['config'], which SteadyStateKalmanDecoder saves itself; it takes "
            "only []")):
        load_decoder(bad, config=None)
    bad.write_text(json.dumps({**meta, "class": "ClosedLoopAgent"}))
    with pytest.raises(TypeError, match=re.escape(
            "loading a ClosedLoopAgent needs ['config'] (not saved with it), e.g. "
            "load_decoder(path, config=env.config)")):
        load_decoder(bad)


def test_dotted_names_save_apart_and_a_repeated_array_name_is_refused(tmp_path):
    from cogmodels.agents.decoders import Assist

    a, b = Assist(level=0.5), Assist(level=0.7)
    assert a.save(tmp_path / "run_gain0.5").name == "run_gain0.5.json"
    b.save(tmp_path / "run_gain0.7")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run_gain0.5.json", "run_gain0.5.npz", "run_gain0.7.json", "run_gain0.7.npz"]
    assert load_decoder(tmp_path / "run_gain0.5").level == 0.5
    assert load_decoder(tmp_path / "run_gain0.7.json").level == 0.7
    bias, _ = _saved_bias(tmp_path)
    bias.extra = {"b.c": np.zeros(1), "b": {"c": np.ones(1)}}  # both would be the array extra.b.c
    with pytest.raises(ValueError, match=re.escape(
            "cannot save two arrays under the name 'extra.b.c'")):
        bias.save(tmp_path / "collide")


def test_save_refuses_what_would_need_pickle(tmp_path):
    b, _ = _saved_bias(tmp_path)
    b.bias_ = object()
    with pytest.raises(TypeError, match=re.escape(
            "cannot save bias_.: objects of type object are not saveable (allowed: [")):
        b.save(tmp_path / "b")
    b.bias_ = np.array([None])
    with pytest.raises(TypeError, match=re.escape("cannot save bias_: arrays of dtype object need "
                                                  "pickle")):
        b.save(tmp_path / "b")


def test_a_loaded_generator_spawns_the_children_the_saved_one_would(tmp_path):
    from cogmodels.agents.decoders import Assist

    a = Assist()
    a.rng = np.random.default_rng(11)
    a.rng.random(3)
    a.rng.spawn(1)  # the seed sequence has spawned once: the next child is its second
    a.save(tmp_path / "a")
    back = load_decoder(tmp_path / "a")
    assert back.rng.random(4).tolist() == a.rng.random(4).tolist()
    assert back.rng.spawn(2)[1].random(4).tolist() == a.rng.spawn(2)[1].random(4).tolist()


def test_a_generator_state_round_trips_through_json_and_refuses_unknown_bit_generators():
    g = np.random.default_rng(7)
    g.random(3)
    state = json.loads(json.dumps(g.bit_generator.state))
    assert generator(state).random(5).tolist() == g.random(5).tolist()
    with pytest.raises(ValueError, match=re.escape(
            "a saved generator's bit_generator must be one of ['MT19937', 'PCG64', 'PCG64DXSM', "
            "'Philox', 'SFC64'], got 'os'")):
        generator({"bit_generator": "os"})


def test_numpy_scalars_keep_their_type_and_a_plastic_policy_saves_alone(tmp_path):
    import torch

    from cogmodels.agents.decoders import Assist
    from cogmodels.agents.decoders.plastic_policy import PlasticReadoutPolicy
    from cogmodels.agents.saving import load, save

    a = Assist()
    a.level_ = np.float64(0.25)  # np.float64 is a float: kept as numpy's, not JSON's
    assert type(load(a.save(tmp_path / "a")).level_) is np.float64
    torch.manual_seed(0)
    p = PlasticReadoutPolicy(obs_dim=3, hidden_size=5, action_low=[-1, -1], action_high=[1, 1])
    q = load(save(p, tmp_path / "p"))
    assert type(q) is PlasticReadoutPolicy and q.config == p.config
    assert all(torch.equal(x, y) for x, y in zip(p.state_dict().values(), q.state_dict().values(),
                                                  strict=True))


def test_a_meta_decoder_whose_config_would_not_load_back_is_refused(tmp_path):
    # MetaDecoderConfig.to_dict flattens a UserSpec to a dict the environment refuses on load
    from cogmodels.agents.decoders.meta_rnn import MetaRNNDecoder
    from cogmodels.envs.bci.realism import realism

    dec = MetaRNNDecoder(env_kwargs={"dt": 0.05, **realism("realistic")}, num_envs=2, hidden_size=4)
    with pytest.raises(TypeError, match=re.escape(
            "cannot save a MetaRNNDecoder whose config.env_kwargs ['user'] are not plain JSON "
            "values")):
        dec.save(tmp_path / "meta")
    assert not (tmp_path / "meta.json").exists()

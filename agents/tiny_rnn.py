"""Tiny recurrent networks trained directly on choices: a data-driven ceiling for model fits.

After Ji-An, Benna & Mattar (2025, Nature, "Discovering cognitive strategies with tiny recurrent
neural networks"): a GRU of 1-4 units reads, on every trial, the previous choice and reward (and
the current stimulus where the task has one), ``x_t = [onehot(a_{t-1}), r_{t-1}, onehot(s_t)]``,
and predicts the current choice, ``P(a_t) = softmax(W h_t + b)``. Trained by maximum likelihood
on the choices themselves (one network shared by all subjects), it has no cognitive assumptions;
its cross-validated log-likelihood says how much of the choices' predictability a cognitive model
leaves unexplained. Held-out trials are scored with the network run over the whole sequence (it
sees every earlier trial), exactly as :func:`cogmodels.fits.cross_validate` scores cognitive
models, so the numbers are directly comparable; :func:`cogmodels.fits.compare_models` shows them
side by side (``ceilings=``).

Examples
--------
A held-out score of a GRU of two units (trained briefly here; the default is up to 1000
epochs) on simulated reversal learning; in a comparison,
``compare_models(trials, ["q_learning", "wsls"], cv_folds="block",
ceilings={"tiny_gru2": TinyRNN(hidden_size=2)})`` puts it beside the models:

>>> from cogmodels.agents.tiny_rnn import TinyRNN
>>> from cogmodels.models import make_model
>>> from cogmodels.simulate import simulate
>>> trials = simulate(make_model("q_learning"), {"alpha": 0.3, "beta": 4.0, "kappa": 0.5},
...                   "cogmodels/ReversalLearning-v0", n_subjects=3, seed=0,
...                   env_kwargs={"n_trials": 80}).trials
>>> cv = TinyRNN(hidden_size=2, max_epochs=20, seed=0).cross_validate(trials, folds="block")
>>> cv.n_folds, cv.per_subject.columns.tolist()
(2, ['loglik', 'n_trials', 'mean_loglik', 'mean_likelihood', 'mean_probability'])
>>> bool((cv.per_subject["mean_likelihood"] > 0.5).all())   # better than chance
True
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from cogmodels.progress import progress_bar
from cogmodels.trials import validate_trials
from cogmodels.validation import (
    SeedLike,
    check_bool,
    check_int,
    check_is_fitted,
    int_seed,
    seed_sequence,
)

__all__ = ["TinyRNN"]

_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}


@dataclass
class _Sequences:
    """Trials cut into padded sequences (one per subject × session[, block]), time-major."""

    inputs: torch.Tensor  # (T, N, input)
    targets: torch.Tensor  # (T, N) int64, 0 where missing
    valid: np.ndarray  # (T, N) bool: a choice to predict
    row: np.ndarray  # (T, N) int64 position in the table, -1 for padding
    subject: np.ndarray  # (N,) the subject of each sequence


class TinyRNN:
    """A tiny GRU (or LSTM / Elman RNN) fitted to choices by maximum likelihood.

    Parameters
    ----------
    hidden_size : int, default 2
        Units (1-4 in Ji-An et al. 2025).
    n_actions : int, default 2
        Number of choice options.
    cell : {"gru", "lstm", "rnn"}
        The recurrent cell.
    n_states : int, optional
        When given, the one-hot of the trial's ``state`` column is part of the input.
    reset_on_block : bool, default False
        Restart the hidden state at each block (tasks with new stimuli per block); it always
        restarts at each session.
    max_epochs : int, default 1000
        Epochs at most of full-batch Adam on the summed negative log-likelihood.
    lr, weight_decay : float
        Adam's learning rate (default 0.05) and weight decay (default 0).
    validation_fraction : float, default 0.1
        Random share of the training trials held out for early stopping (their loss is not
        trained on); the weights of the best validation epoch are kept.
    patience : int, default 50
        Epochs without a better validation loss before training stops.
    seed : int, SeedSequence, Generator or None
        Seeds the weights and the validation split (default 0).

    Attributes
    ----------
    network_ : torch.nn.Module
        The fitted network.
    loglik_ : float
        Summed log-likelihood of the training trials.
    n_trials_ : int
        Training trials with a valid choice.
    epochs_ : int
        Epochs run.
    history_ : pandas.DataFrame
        Train and validation loss per epoch.
    """

    def __init__(
        self,
        hidden_size: int = 2,
        *,
        n_actions: int = 2,
        cell: str = "gru",
        n_states: int | None = None,
        reset_on_block: bool = False,
        max_epochs: int = 1000,
        lr: float = 0.05,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        patience: int = 50,
        seed: SeedLike = 0,
    ) -> None:
        self.hidden_size = check_int("hidden_size", hidden_size, 1)
        self.n_actions = check_int("n_actions", n_actions, 2)
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {list(_CELLS)}, got {cell!r}")
        self.cell = cell
        self.n_states = None if n_states is None else check_int("n_states", n_states, 1)
        self.reset_on_block = bool(reset_on_block)
        self.max_epochs = check_int("max_epochs", max_epochs, 1)
        self.patience = check_int("patience", patience, 1)
        if not (isinstance(lr, int | float) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        if not (isinstance(weight_decay, int | float) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
        if not (isinstance(validation_fraction, int | float) and 0 <= validation_fraction < 1):
            raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.validation_fraction = float(validation_fraction)
        self.seed = seed
        self.name = f"tiny_{cell}{self.hidden_size}"

    @property
    def input_size(self) -> int:
        """Inputs per trial: one-hot previous action, previous reward, one-hot state if any."""
        return self.n_actions + 1 + (self.n_states or 0)

    def n_weights(self) -> int:
        """Return the number of trained weights (the network's size, for the comparison table)."""
        net = self._build()
        return sum(p.numel() for p in net.parameters())

    # -- data -----------------------------------------------------------------------------------
    def _sequences(self, trials: pd.DataFrame) -> _Sequences:
        if not isinstance(trials, pd.DataFrame):
            raise TypeError(f"trials must be a pandas DataFrame (a trial table), got {type(trials).__name__}")
        need = ["subject", "choice", "reward"] + (["state"] if self.n_states else [])
        need += ["block"] if self.reset_on_block else []
        missing = [c for c in need if c not in trials.columns]
        if missing:
            raise ValueError(f"{self.name} needs columns {need}; missing {missing} "
                             f"(columns present: {list(trials.columns)})")
        # the sequences follow the row order: refuse what the fits refuse (shuffled rows, shared
        # subject ids, repeated trials, values that are not numbers), naming the rows
        validate_trials(trials, extra_required=need)
        choice = pd.to_numeric(trials["choice"], errors="coerce").to_numpy(float, na_value=np.nan)
        ok = np.isnan(choice) | ((choice >= 0) & (choice < self.n_actions) & (choice == np.round(choice)))
        if not ok.all():
            rows = np.flatnonzero(~ok)[:10]
            raise ValueError(f"column 'choice': rows {rows.tolist()} hold {choice[rows].tolist()}, "
                             f"outside the {self.n_actions} actions of {self.name}")
        reward = pd.to_numeric(trials["reward"], errors="coerce").to_numpy(float, na_value=np.nan)
        keys = [trials["subject"]]
        for col in ("session", "block" if self.reset_on_block else None):
            if col and col in trials.columns:
                keys.append(trials[col])
        seq = pd.MultiIndex.from_arrays(keys).factorize()[0] if len(keys) > 1 else \
            pd.factorize(trials["subject"])[0]
        n_seq = int(seq.max()) + 1 if len(seq) else 0
        pos = pd.Series(seq).groupby(seq).cumcount().to_numpy()
        t_max = int(pos.max()) + 1 if len(pos) else 0
        shape = (t_max, n_seq)
        valid = ~np.isnan(choice)
        a = np.where(valid, choice, 0).astype(np.int64)
        x = np.zeros((*shape, self.input_size), dtype=np.float32)
        # the previous trial's choice and reward (none at a sequence's start or after a miss)
        prev_ok = np.zeros(len(trials), dtype=bool)
        prev_ok[1:] = (seq[1:] == seq[:-1]) & valid[:-1]
        idx = np.flatnonzero(prev_ok)
        x[pos[idx], seq[idx], a[idx - 1]] = 1.0
        x[pos[idx], seq[idx], self.n_actions] = np.nan_to_num(reward[idx - 1])
        if self.n_states:
            s = pd.to_numeric(trials["state"], errors="coerce").to_numpy(float, na_value=np.nan)
            bad = np.isnan(s) | (s < 0) | (s >= self.n_states)
            if bad.any():
                rows = np.flatnonzero(bad)[:10]
                raise ValueError(f"column 'state': rows {rows.tolist()} are not in 0..{self.n_states - 1}")
            x[pos, seq, self.n_actions + 1 + s.astype(np.int64)] = 1.0
        targets = np.zeros(shape, dtype=np.int64)
        targets[pos, seq] = a
        valid_ts = np.zeros(shape, dtype=bool)
        valid_ts[pos, seq] = valid
        row = np.full(shape, -1, dtype=np.int64)
        row[pos, seq] = np.arange(len(trials))
        subject = np.empty(n_seq, dtype=object)
        subject[seq] = trials["subject"].to_numpy()
        return _Sequences(torch.from_numpy(x), torch.from_numpy(targets), valid_ts, row, subject)

    # -- the network ------------------------------------------------------------------------------
    def _build(self) -> nn.Module:
        return _Net(_CELLS[self.cell](self.input_size, self.hidden_size), self.n_actions)

    @staticmethod
    def _logp(net: nn.Module, data: _Sequences) -> torch.Tensor:
        """(T, N) log-probability of the observed choice on every step."""
        logits = net(data.inputs)
        return torch.log_softmax(logits, dim=-1).gather(-1, data.targets[..., None])[..., 0]

    def fit(self, trials: pd.DataFrame, mask: np.ndarray | None = None, *, progress: bool = True) -> TinyRNN:
        """Fit the network to the choices of ``trials`` (only the rows where ``mask`` is True).

        The network still reads every trial's choice and reward as input; ``mask`` only selects
        which choices it is trained to predict (the training trials of a cross-validation fold).
        ``progress`` draws a bar of the training epochs (on a terminal only).
        """
        progress = check_bool("progress", progress)
        data = self._sequences(trials)
        train_rows = np.ones(len(trials), dtype=bool) if mask is None else np.asarray(mask, bool)
        if train_rows.shape != (len(trials),):
            raise ValueError(f"mask must be a boolean array of length {len(trials)}, got shape {train_rows.shape}")
        present = data.row >= 0
        in_train = np.zeros(data.row.shape, dtype=bool)
        in_train[present] = train_rows[data.row[present]]
        in_train &= data.valid
        if not in_train.any():
            raise ValueError("there is no valid (answered) training trial to fit")
        rng = np.random.default_rng(self.seed)
        hold = in_train & (rng.random(in_train.shape) < self.validation_fraction)
        fit_mask = torch.from_numpy(in_train & ~hold)
        val_mask = torch.from_numpy(hold)
        torch_seed = int_seed(self.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)
            net = self._build()
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        best, best_state, since, history = np.inf, copy.deepcopy(net.state_dict()), 0, []
        n_fit = max(int(fit_mask.sum()), 1)
        with progress_bar(progress, total=self.max_epochs, unit="epoch", desc=f"{self.name} fit") as bar:
            for epoch in range(self.max_epochs):
                bar.update()
                opt.zero_grad()
                logp = self._logp(net, data)
                loss = -(logp * fit_mask).sum() / n_fit
                loss.backward()
                opt.step()
                lp = logp.detach()
                train = loss.item()
                val = (-(lp * val_mask).sum() / max(int(val_mask.sum()), 1)).item() if hold.any() else train
                history.append({"epoch": epoch, "train_loss": train, "validation_loss": val})
                if val < best - 1e-6:
                    best, best_state, since = val, copy.deepcopy(net.state_dict()), 0
                else:
                    since += 1
                    if since >= self.patience:
                        bar.total = bar.n  # stopped early: the bar ends full
                        bar.refresh()
                        break
        net.load_state_dict(best_state)
        net.eval()
        self.network_ = net
        self.epochs_ = len(history)
        self.history_ = pd.DataFrame(history)
        with torch.no_grad():
            lp = self._logp(net, data).numpy()
        self.loglik_ = float(lp[in_train].sum())
        self.n_trials_ = int(in_train.sum())
        return self

    def trial_loglik(self, trials: pd.DataFrame) -> np.ndarray:
        """Log-probability of each row's choice under the fitted network (NaN where missing)."""
        check_is_fitted(self, "network_")
        data = self._sequences(trials)
        with torch.no_grad():
            lp = self._logp(self.network_, data).numpy().astype(np.float64)
        out = np.full(len(trials), np.nan)
        ok = (data.row >= 0) & data.valid
        out[data.row[ok]] = lp[ok]
        return out

    def score(self, trials: pd.DataFrame, mask: np.ndarray | None = None) -> float:
        """Return the summed log-likelihood of the choices of ``trials`` (rows where ``mask``)."""
        ll = self.trial_loglik(trials)
        if mask is not None:
            ll = np.where(np.asarray(mask, bool), ll, np.nan)
        return float(np.nansum(ll))

    def cross_validate(self, trials: pd.DataFrame, *, folds: int | str = "block",
                       n_folds: int | None = None, seed: SeedLike = None, progress: bool = True):
        """k-fold held-out log-likelihood, as :func:`cogmodels.fits.cross_validate` computes it.

        Each fold trains a fresh copy of this network on the other folds' choices (seeded from
        ``SeedSequence(seed)``, default this network's seed) and scores the held-out ones. Returns a
        :class:`cogmodels.fits.CVResult` (``estimators`` holds the fitted networks). ``progress``
        draws a bar of the folds (on a terminal only).
        """
        from cogmodels.fits.compare import CVResult, fold_labels

        progress = check_bool("progress", progress)
        fold_row, k = fold_labels(trials, folds, n_folds)
        seeds = seed_sequence(self.seed if seed is None else seed).spawn(k)
        trial_ll = np.full(len(trials), np.nan)
        choice = pd.to_numeric(trials["choice"], errors="coerce").to_numpy(float, na_value=np.nan)
        answered = ~np.isnan(choice)
        subjects = pd.Index(pd.unique(trials["subject"]))
        code = subjects.get_indexer(trials["subject"])
        rows, nets = [], []
        bar = progress_bar(progress, total=k, unit="fold", desc=f"{self.name} cross-validation")
        for f in range(k):
            test = fold_row == f
            net = copy.copy(self)
            net.seed = int_seed(seeds[f])
            net.fit(trials, mask=~test, progress=False)
            bar.update()
            nets.append(net)
            ll = net.trial_loglik(trials)
            trial_ll[test] = ll[test]
            held = test & answered
            train = ~test & answered
            rows.append(pd.DataFrame({
                "subject": subjects,
                "fold": f,
                "n_train": np.bincount(code[train], minlength=len(subjects)),
                "n_test": np.bincount(code[held], minlength=len(subjects)),
                "train_loglik": np.bincount(code[train], weights=ll[train], minlength=len(subjects)),
                "loglik": np.bincount(code[held], weights=ll[held], minlength=len(subjects)),
            }))
        bar.close()
        table = pd.concat(rows, ignore_index=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            table["mean_loglik"] = table["loglik"] / table["n_test"]
        g = table.groupby("subject", sort=False)
        per_subject = pd.DataFrame({"loglik": g["loglik"].sum(), "n_trials": g["n_test"].sum()})
        per_subject["mean_loglik"] = per_subject["loglik"] / per_subject["n_trials"]
        per_subject["mean_likelihood"] = np.exp(per_subject["mean_loglik"])
        prob = np.where(answered, np.exp(trial_ll), 0.0)
        per_subject["mean_probability"] = (
            np.bincount(code, weights=prob, minlength=len(subjects)) / per_subject["n_trials"].to_numpy())
        per_subject.index.name = "subject"
        trialwise = pd.DataFrame({"subject": trials["subject"].to_numpy(), "fold": fold_row,
                                  "loglik": trial_ll}, index=trials.index)
        return CVResult(self.name, "rnn", k, table, per_subject, trialwise, nets)

    def __repr__(self) -> str:
        return f"TinyRNN(hidden_size={self.hidden_size}, cell={self.cell!r}, n_actions={self.n_actions})"


class _Net(nn.Module):
    def __init__(self, core: nn.Module, n_actions: int) -> None:
        super().__init__()
        self.core = core
        self.readout = nn.Linear(core.hidden_size, n_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.core(x)
        return self.readout(out)

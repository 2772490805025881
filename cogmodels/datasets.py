"""Real behavioural data sets that ship with cogmodels, as canonical trial tables.

Only permissively licensed data ship, unmodified, in ``cogmodels/data/`` (see its ``NOTICE.md``);
each loader names the source repository and commit, the licence and the paper to cite.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from cogmodels.io import read_rlwm_mat
from cogmodels.trials import validate_trials

__all__ = ["load_collins_frank_2012", "load_fontanesi_2019", "load_hddm_rlddm"]

_COLLINS_FRANK_2012 = "collins_frank_2012_expe1.mat"
_FONTANESI_2019 = "fontanesi_2019_data_experiment.csv"
_HDDM_RLDDM = "hddm_rlddm_data.csv"


def load_collins_frank_2012() -> pd.DataFrame:
    """Load the RLWM experiment of Collins & Frank (2012): 79 subjects, 53,573 trials, 3 actions.

    Each subject did 18 blocks; a block has a set size of 2-6 new stimuli, each with one correct
    action of three, and deterministic feedback (reward 1 for the correct action, else 0). 484
    missing responses are kept as NaN choices. Columns as :func:`cogmodels.io.read_rlwm_mat`:
    ``subject, block, trial, trial_in_block, set_size, state, correct_action, iteration, choice,
    reward, correct, rt`` (seconds), ``pcor, delay``.

    Source: https://github.com/AnneCollins/WMH, ``RLWM/DataSets/Expe1.mat`` at commit
    5a31904b12efadf94aa8a6d918feb3fa1d29dd0e. Licence: MIT, Copyright (c) Anne Collins.

    Cite: Collins, A. G. E. & Frank, M. J. (2012). How much of reinforcement learning is working
    memory, not reinforcement learning? A behavioral, computational, and neurogenetic analysis.
    *European Journal of Neuroscience*, 35(7), 1024-1035. doi:10.1111/j.1460-9568.2011.07980.x
    """
    with resources.as_file(resources.files("cogmodels.data") / _COLLINS_FRANK_2012) as path:
        return read_rlwm_mat(path)


#: The four option pairs shown in Fontanesi et al. (2019), as 0-based (worse, better) options;
#: ``state`` is the position of the pair shown in this tuple.
FONTANESI_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 3), (2, 3))


def load_fontanesi_2019() -> pd.DataFrame:
    """Load the value-based learning task of Fontanesi et al. (2019): 27 people, 6,464 choices.

    Three blocks of (up to) 80 trials. Four options pay noisy points around different means
    (about 36, 40, 50, 54 for options 1-4); on each trial two of them are shown, one of the four
    pairs 1-2, 1-3, 2-4, 3-4, and the participant picks one. The payoffs of both options are
    recorded (``f_cor``, ``f_inc``: the better and worse option's payoff); rlssm's models update
    both values (full feedback) and set all four values to their mean at the start of a block.

    Mapping to the canonical table (a modeller's Q-learner keeps one value per *option*, and the
    options recur across pairs, so ``choice`` is the option chosen rather than the accuracy):

    - ``subject`` = participant, ``block`` = block_label, ``trial`` = order within subject
      (from 0);
    - ``choice`` = the chosen option, 0-3 (``cor_option - 1`` when ``accuracy`` is 1, else
      ``inc_option - 1``); ``unchosen`` = the other option shown;
    - ``state`` = the pair shown, 0-3, an index into :data:`FONTANESI_PAIRS` (only the two options
      of the pair are available: fit with a model that restricts its choice to them, or use the
      two-alternative coding ``accuracy`` with ``state``);
    - ``reward`` = the chosen option's payoff (points), ``reward_unchosen`` = the other's;
    - ``rt`` in seconds;
    - all original columns: ``participant, block_label, trial_block, f_cor, f_inc, cor_option,
      inc_option, times_seen, accuracy`` (the file's unnamed row-number column is dropped).

    Source: https://github.com/laurafontanesi/rlssm, ``data/data_experiment.csv`` at commit
    b8b8b590d31effee6b5309813196114f1c26fe27. Licence: MIT, Copyright (c) 2021 Laura Fontanesi.

    Cite: Fontanesi, L., Gluth, S., Spektor, M. S. & Rieskamp, J. (2019). A reinforcement
    learning diffusion decision model for value-based decisions. *Psychonomic Bulletin &
    Review*, 26(4), 1099-1121. doi:10.3758/s13423-018-1554-2
    """
    with resources.as_file(resources.files("cogmodels.data") / _FONTANESI_2019) as path:
        raw = pd.read_csv(path)
    raw = raw.drop(columns=[c for c in raw.columns if str(c).startswith("Unnamed")])
    better = raw["cor_option"].to_numpy() - 1
    worse = raw["inc_option"].to_numpy() - 1
    accurate = raw["accuracy"].to_numpy() == 1
    pairs = {pair: k for k, pair in enumerate(FONTANESI_PAIRS)}
    out = pd.DataFrame(
        {
            "subject": raw["participant"],
            "block": raw["block_label"],
            "trial": raw.groupby("participant", sort=False).cumcount(),
            "state": [pairs[(min(a, b), max(a, b))] for a, b in zip(better, worse, strict=True)],
            "choice": np.where(accurate, better, worse),
            "unchosen": np.where(accurate, worse, better),
            "reward": np.where(accurate, raw["f_cor"], raw["f_inc"]).astype(np.float64),
            "reward_unchosen": np.where(accurate, raw["f_inc"], raw["f_cor"]).astype(np.float64),
            "rt": raw["rt"],
        }
    )
    out = pd.concat([out, raw.drop(columns=["rt"])], axis=1)
    return validate_trials(out, n_actions=4, source=f"cogmodels/data/{_FONTANESI_2019}")


def load_hddm_rlddm() -> pd.DataFrame:
    """Load HDDM's instrumental-learning data with RTs: 28 people, 5,280 choices, 3 option pairs.

    The learning phase of a probabilistic selection task (Frank, Seeberger & O'Reilly 2004): on
    each trial one of three pairs is shown, AB, CD or EF, whose better option pays 1 with
    probability 0.8, 0.7, 0.6 and the other with 0.2, 0.3, 0.4. HDDM's tutorial fits it with
    ``HDDMrl`` (:class:`cogmodels.models.RLDDM` with ``n_states=3``); the response coded 1, the
    upper boundary, is the better option. No trial has a missing response or RT.

    Mapping to the canonical table: ``subject`` = subj_idx; ``trial`` = order within subject
    (the file's row order, from 0); ``state`` = split_by (0 = AB, 1 = CD, 2 = EF); ``choice`` =
    response (1 = the better option); ``reward`` = feedback; ``rt`` in seconds; the original
    columns ``cond, trial_in_pair`` (the file's ``trial``, counted within the pair from 1) and
    ``q_init`` are kept.

    Source: https://github.com/hddm-devs/hddm, ``hddm/examples/rlddm_data.csv`` at commit
    19feaa9849619931d306094b48d9803ef9c8d0bd. Licence: BSD-2-Clause, Copyright (c) 2012, Thomas
    V. Wiecki, Imri Sofer, Michael J. Frank (notice in ``cogmodels/data/NOTICE.md``).

    Cite: Pedersen, M. L., Frank, M. J. & Biele, G. (2017). The drift diffusion model as the
    choice rule in reinforcement learning. *Psychonomic Bulletin & Review*, 24(4), 1234-1251.
    doi:10.3758/s13423-016-1199-y; and HDDM: Wiecki, T. V., Sofer, I. & Frank, M. J. (2013).
    HDDM: Hierarchical Bayesian estimation of the drift-diffusion model in Python. *Frontiers in
    Neuroinformatics*, 7, 14. doi:10.3389/fninf.2013.00014
    """
    with resources.as_file(resources.files("cogmodels.data") / _HDDM_RLDDM) as path:
        raw = pd.read_csv(path)
    out = pd.DataFrame(
        {
            "subject": raw["subj_idx"],
            "trial": raw.groupby("subj_idx", sort=False).cumcount(),
            "state": raw["split_by"].astype(np.int64),
            "choice": raw["response"].astype(np.int64),
            "reward": raw["feedback"].astype(np.float64),
            "rt": raw["rt"].astype(np.float64),
            "cond": raw["cond"],
            "trial_in_pair": raw["trial"].astype(np.int64),
            "q_init": raw["q_init"],
        }
    )
    return validate_trials(out, n_actions=2, source=f"cogmodels/data/{_HDDM_RLDDM}")

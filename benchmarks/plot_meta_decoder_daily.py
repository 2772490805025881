#!/usr/bin/env python
"""Draw a decoder used every day: its share of a fresh Kalman filter by day, one line per draw.

Reads the tables ``bench_meta_decoder.py --daily N`` wrote (``meta_decoder<prefix>_<E>.csv``, one
per evaluation seed ``E``; rows ``<decoder>_daily_day_G``, column ``ratio_to_same_day_kf``) and
draws each draw's share over the first ``--seconds`` of each day, with the issue's 0.8 line.

    python benchmarks/plot_meta_decoder_daily.py        # the committed Gaussian map inference runs
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def daily_shares(table: pd.DataFrame, decoder: str) -> pd.Series:
    """Return ``ratio_to_same_day_kf`` of ``<decoder>_daily_day_G`` rows, indexed by day ``G``."""
    pattern = re.compile(rf"^{re.escape(decoder)}_daily_day_(\d+)$")
    rows = {int(m.group(1)): r for d, r in zip(table["decoder"], table["ratio_to_same_day_kf"])
            if (m := pattern.match(d))}
    if not rows:
        raise ValueError(f"the table has no '{decoder}_daily_day_G' rows (a bench_meta_decoder.py "
                         f"--daily run), got decoders {sorted(set(table['decoder']))}")
    return pd.Series(rows).sort_index()


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefix", default="_gaussian_map_daily_full_m1_k10",
                    help="the runs' --tag without the seed")
    ap.add_argument("--seeds", type=int, nargs="+", default=[2018, 2019, 2020, 2021, 2022, 2023, 2024])
    ap.add_argument("--decoder", default="gaussian_map_inference")
    ap.add_argument("--figures", type=Path, default=HERE / "figures", help="where the tables are")
    ap.add_argument("--out", type=Path, default=None,
                    help="the PNG (default: <figures>/meta_decoder<prefix>.png)")
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for seed in args.seeds:
        path = args.figures / f"meta_decoder{args.prefix}_{seed}.csv"
        if not path.is_file():
            ap.error(f"--prefix/--seeds name a table that is not there: {path}")
        shares = daily_shares(pd.read_csv(path), args.decoder)
        ax.plot(shares.index, shares.to_numpy(), marker=".", label=f"draw {seed}")
    ax.axhline(0.8, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="day after the first session", ylabel="share of a fresh Kalman filter",
           ylim=(0.0, 1.0))
    ax.set_title(f"{args.decoder} ({args.prefix.strip('_')})\nthe first 2 minutes of each day",
                 fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    out = args.out or args.figures / f"meta_decoder{args.prefix}.png"
    fig.savefig(out, dpi=120)
    plt.close(fig)
    print(out)
    return out


if __name__ == "__main__":
    main()

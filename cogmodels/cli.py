"""The ``cogmodels`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if text and text.strip() else ""


def cmd_envs(args: argparse.Namespace) -> int:
    """List the registered environments."""
    import gymnasium as gym

    from cogmodels.envs import env_ids

    rows = []
    for env_id in env_ids():
        spec = gym.spec(env_id)
        env = gym.make(env_id)
        cls = type(env.unwrapped)
        rows.append(
            {
                "id": env_id,
                "entry_point": spec.entry_point,
                "vector_entry_point": spec.vector_entry_point,
                "observation_space": repr(env.observation_space),
                "action_space": repr(env.action_space),
                "description": _first_line(cls.__doc__),
            }
        )
        env.close()
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        width = max(len(r["id"]) for r in rows)
        for r in rows:
            vec = " [vector]" if r["vector_entry_point"] else ""
            print(f"{r['id']:<{width}}  {r['description']}{vec}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo job and print where its outputs are."""
    from cogmodels.demo import run_demo

    paths = run_demo(args.out, seed=args.seed, n_subjects=args.subjects)
    for label, path in paths.items():
        print(f"{label}: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from cogmodels import __version__

    parser = argparse.ArgumentParser(
        prog="cogmodels",
        description="Reinforcement-learning cognitive models, fitting, and BCI simulation.",
    )
    parser.add_argument("--version", action="version", version=f"cogmodels {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("envs", help="list the registered environments, one line each")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_envs)

    p = sub.add_parser("demo", help="simulate a Q-learner on the bandit and reversal tasks")
    p.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subjects", type=int, default=50)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        parser.exit(2, f"cogmodels {args.command}: error: {err}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

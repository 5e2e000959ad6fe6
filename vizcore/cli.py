"""Command line: `python -m vizcore run [options] [--out FILE]`.

Options are the RunConfig fields with dashes. Exit status: 0 for a finished run
(completed or diverged), 2 for an invalid config or option, with one line
`error: <field>: <what is wrong>` on stderr and no traceback. A value outside its
field's range is refused even where the chosen norm or model ignores the field
(`--groups 0` with batch norm), as links and RunConfig refuse it (engine.config.validate).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from vizcore.engine import runfile
from vizcore.engine.config import CHOICES, FIELD_TYPES, ConfigError, RunConfig


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        self.exit(2, f"error: {message}\n")


def parser() -> argparse.ArgumentParser:
    """Return the argument parser (one option per RunConfig field)."""
    p = _Parser(prog="python -m vizcore", description="Train small networks and record every layer.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="train one run and write its run file (JSON)")
    defaults = RunConfig()
    for f in fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if FIELD_TYPES[f.name] is bool:
            run.add_argument(
                flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=f"default: {default}"
            )
        else:
            choices = f" ({'|'.join(CHOICES[f.name])})" if f.name in CHOICES else ""
            run.add_argument(flag, dest=f.name, metavar="V", default=None, help=f"default: {default}{choices}")
    run.add_argument("--out", metavar="FILE", help="write the run file here instead of stdout")
    run.add_argument("--indent", type=int, default=None, help="pretty-print the JSON")
    exp = sub.add_parser("experiment", help="run one experiment headless; print its verdict and deciding numbers")
    exp.add_argument("name", nargs="?", help="the experiment (see --list)")
    exp.add_argument("--list", action="store_true", help="list the experiments")
    exp.add_argument("--budget", type=float, default=1.0, help="fraction of the default number of steps")
    exp.add_argument("--seeds", default=None, help="comma-separated seeds (default: the experiment's)")
    exp.add_argument("--workers", type=int, default=1, help="worker processes for the runs")
    exp.add_argument("--out", metavar="FILE", help="also write the full result (runs, numbers, verdict) as JSON")
    return p


def experiment(args: argparse.Namespace) -> int:
    """Run or list experiments; return the exit status."""
    from vizcore.experiments import all_experiments, get

    if args.list or not args.name:
        for e in all_experiments():
            print(f"{e.name:24s} {e.title}")
        return 0 if args.list else 2
    try:
        exp = get(args.name)
    except KeyError as e:
        print(f"error: name: {e.args[0]}", file=sys.stderr)
        return 2
    if not 0.01 <= args.budget <= 10:
        print(f"error: budget: must be between 0.01 and 10, got {args.budget}", file=sys.stderr)
        return 2
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    except ValueError:
        print(f"error: seeds: expected comma-separated whole numbers, got {args.seeds!r}", file=sys.stderr)
        return 2

    def progress(done: int, total: int, what: str, run: dict | None = None) -> None:
        print(f"  {done}/{total} {what}", file=sys.stderr)

    result = exp.run(budget=args.budget, seeds=seeds, progress=progress, workers=args.workers)
    v = result.verdict
    print(f"{exp.title}\nclaim: {exp.claim}\nverdict: {v.label.upper()}\n{v.summary}\nrule: {v.rule}")
    for k, val in v.numbers.items():
        print(f"  {k} = {val:.4g}" if isinstance(val, float) else f"  {k} = {val}")
    if args.out:
        runfile_dump = runfile.dumps(result.to_dict())
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(runfile_dump)
    return 0


def main(argv: "list[str] | None" = None) -> int:
    """Run the command line; return the exit status."""
    args = parser().parse_args(argv)
    if args.command == "experiment":
        return experiment(args)
    given = {f.name: getattr(args, f.name) for f in fields(RunConfig) if getattr(args, f.name) is not None}
    try:
        cfg = RunConfig.from_dict(given)
    except ConfigError as e:
        print(f"error: {e.field}: {e.message}", file=sys.stderr)
        return 2
    from vizcore.engine.training import Trainer

    run = Trainer(cfg).run(chunk=500)
    if args.out:
        try:
            runfile.save(run, args.out)
        except OSError as e:
            print(f"error: out: cannot write {args.out}: {e.strerror}", file=sys.stderr)
            return 2
        print(
            f"{run['status']} after {run['steps_done']} steps; test accuracy "
            f"{run['curves']['test_acc'][-1]}; written to {args.out}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(runfile.dumps(run, indent=args.indent) + "\n")
    return 0

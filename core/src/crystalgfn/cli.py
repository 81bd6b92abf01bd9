"""The ``crystalgfn`` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings
from pathlib import Path

from crystalgfn import __version__
from crystalgfn.errors import ConfigError, CrystalGFNError
from crystalgfn.restrictions import add_restriction_arguments, detached_negative_range


def _plugins_report() -> dict:
    """Every distribution that contributed plugins, its version, names and failures."""
    from crystalgfn.plugins import get_plugins

    plugins = get_plugins()
    report: dict[str, dict] = {}

    def entry_for(distribution: str) -> dict:
        return report.setdefault(
            distribution,
            {
                "distribution": distribution,
                "version": plugins.versions.get(distribution, ""),
                "envs": [],
                "proxies": [],
                "losses": [],
                "policies": [],
                "constraints": [],
                "presets": [],
                "structure_builders": [],
                "oracles": [],
                "error": None,
                "conflicts": [],
            },
        )

    for key, registry in (
        ("envs", plugins.envs),
        ("proxies", plugins.proxies),
        ("losses", plugins.losses),
        ("policies", plugins.policies),
        ("structure_builders", plugins.structure_builders),
        ("oracles", plugins.oracles),
    ):
        for entry in registry:
            entry_for(entry.distribution)[key].append(entry.name)
    for entry in plugins.constraints:
        entry_for(entry.distribution)["constraints"].append(entry.name)
    for entry in plugins.presets:
        entry_for(entry.distribution)["presets"].append(f"{entry.name}={entry.factory()}")
    for failure in plugins.failures:
        entry_for(failure.distribution)["error"] = (
            f"entry point {failure.entry_point!r} failed to load: {failure.error}"
        )
    for registry in plugins.registries().values():
        for name, later in sorted(registry.conflicts.items()):
            for entry in later:
                entry_for(entry.distribution)["conflicts"].append(registry.conflict_message(name))
    return {"plugins": [report[name] for name in sorted(report)]}


def _print_plugins_table(report: dict) -> None:
    rows = [("DISTRIBUTION", "VERSION", "CONTRIBUTES")]
    for plugin in report["plugins"]:
        contributed = []
        for key, label in (
            ("envs", "env"),
            ("proxies", "proxy"),
            ("losses", "loss"),
            ("policies", "policy"),
            ("constraints", "constraint"),
            ("presets", "preset"),
            ("structure_builders", "structure-builder"),
            ("oracles", "oracle"),
        ):
            contributed += [f"{label}:{name}" for name in plugin[key]]
        if plugin["error"]:
            contributed.append(f"FAILED: {plugin['error']}")
        contributed += [f"CONFLICT: {message}" for message in plugin["conflicts"]]
        rows.append((plugin["distribution"], plugin["version"], ", ".join(contributed) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}")


def _import_every_factory() -> list[str]:
    """Import every factory registered by reference; the errors of those that fail."""
    from crystalgfn.plugins import get_plugins

    errors = []
    for registry in get_plugins().registries().values():
        for entry in registry:
            try:
                _ = entry.factory
            except CrystalGFNError as error:
                errors.append(str(error))
    return errors


def cmd_plugins(args: argparse.Namespace) -> int:
    if args.check:
        errors = _import_every_factory()
        for error in errors:
            print(f"crystalgfn: error: {error}", file=sys.stderr)
        if errors:
            return 1
    report = _plugins_report()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_plugins_table(report)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import os

    from crystalgfn import run

    checkpoint = run.train(
        args.config, args.out, resume=args.resume, device=args.device, steps=args.steps,
        max_minutes=args.max_minutes,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained: checkpoint {checkpoint}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from crystalgfn import run
    from crystalgfn.builders import make_policy
    from crystalgfn.compose import make_env
    from crystalgfn.devices import make_generator, resolve_device
    from crystalgfn.restrictions import restrictions_from_args
    from crystalgfn.table import describe, write_csv
    from crystalgfn.trainer import sample_policy

    if args.n < 1 or args.batch_size < 1:
        raise ConfigError(
            f"-n and --batch-size must be positive, got {args.n} and {args.batch_size}"
        )
    if args.config and (args.run or args.env):
        other = "--run (a run carries its own environment)" if args.run else "--env"
        raise ConfigError(f"--config gives the environment of --policy; drop it or {other}")
    device = resolve_device(args.device)  # before building anything
    restrictions = restrictions_from_args(args)
    if args.run:
        model = run.load_run(args.run, device=args.device)
        result = run.sample_model(
            model, args.n, restrictions, args.seed, args.batch_size, progress=True
        )
        columns = result.columns
        if result.quality is not None:
            _print_restriction_quality(result.quality)
    else:
        if args.config:
            from crystalgfn.config import RunConfig

            env = RunConfig.from_file(args.config).build_env()
        else:
            env = make_env(args.env or "crystal")
        if restrictions:
            env = env.restrict(**restrictions)
        generator = make_generator(args.seed, device)
        policy = make_policy(args.policy or "uniform", env).to(device)
        done = sample_policy(
            env, policy, args.n, args.batch_size, generator, device, progress=True
        )
        columns = describe(env, done)
    path = write_csv(args.out, columns)
    print(f"wrote {args.n} samples to {path}")
    return 0


def _print_restriction_quality(quality: dict) -> None:
    """One line on how far a restricted sample may be from R/Z, and a warning for a masked
    (not conditional) run."""
    print(
        f"restricted sampler: effective sample size {quality['ess_fraction']:.1%} of "
        f"the first {quality['n']} samples, importance-weighted (100 % for a sampler "
        f"exactly ∝ R), log Z estimate {quality['log_z']:.3f}, KL to R/Z estimate "
        f"{quality['kl']:.2f} nats (0 for an exact sampler)",
        file=sys.stderr,
    )
    if not quality["conditional"]:
        print(
            "warning: this run was not trained conditioned on restrictions, so masking it "
            "samples only approximately ∝ R on the restricted space; for an exact sampler, "
            "train with [conditioning] (docs/training.md, \"Conditional runs\") or with the "
            "restriction in [restrictions]",
            file=sys.stderr,
        )


def cmd_report(args: argparse.Namespace) -> int:
    from crystalgfn.report import build_report
    from crystalgfn.restrictions import restrictions_from_args

    env = args.env
    if args.run:
        from crystalgfn.config import RunConfig

        env = RunConfig.from_file(Path(args.run) / "config.toml").build_env()
    restrictions = restrictions_from_args(args)
    if restrictions:
        from crystalgfn.compose import make_env

        if env is None or isinstance(env, str):
            env = make_env(env or "crystal")
        env = env.restrict(**restrictions)
    from crystalgfn.report.evaluation import parse_evaluation_argument, parse_samples_argument

    evaluations = [parse_evaluation_argument(text) for text in args.evaluation or []]
    baseline = parse_samples_argument(args.baseline, "uniform baseline") if args.baseline else None
    compare = parse_samples_argument(args.compare, None) if args.compare else None
    metrics = build_report(args.samples, args.out, reference_csv=args.reference, env=env,
                           top=args.top, evaluations=evaluations, baseline=baseline,
                           compare=compare, run_dir=args.run)
    valid = metrics["validity"].get("all")
    print(
        f"{metrics['samples']['n']} samples: valid {'n/a' if valid is None else f'{valid:.3f}'}, "
        f"unique {metrics['diversity']['unique_share']:.3f}, {len(metrics['plots'])} plots"
    )
    print(
        f"report written to {args.out}/report.md and {args.out}/report.html "
        f"(metrics: {args.out}/metrics.json)"
    )
    return 0


def _builder_name(requested: str | None) -> str:
    """The structure builder to use: ``requested`` (``--backend``), else the only installed
    one; with none or several installed and none requested, a :class:`ConfigError` says
    which to install or choose."""
    from crystalgfn.plugins import get_plugins

    if requested is not None:
        return requested
    names = get_plugins().structure_builders.names()
    if len(names) == 1:
        return names[0]
    if not names:
        raise ConfigError(
            "no structure builder is installed; install one, e.g. the first-party "
            "crystalgfn-structures (pip install -e plugins/structures)"
        )
    raise ConfigError(
        f"several structure builders are installed ({', '.join(names)}); choose one with "
        "--backend NAME"
    )


def _needs_builder(source: str) -> bool:
    """Whether ``crystalgfn evaluate`` places atoms for ``source``: a samples CSV, not a CIF
    file or a folder of CIF files."""
    path = Path(source)
    return not (path.is_dir() or path.suffix.lower() == ".cif")


def cmd_structures(args: argparse.Namespace) -> int:
    from crystalgfn.plugins import get_plugins

    registry = get_plugins().structure_builders
    builder = registry.get(_builder_name(args.backend)).factory(
        seed=args.seed, min_distance_scale=args.min_distance_scale, timeout=args.timeout
    )
    metrics = builder.write(args.samples, args.out, reference=args.reference, jobs=args.jobs)
    print(
        f"{metrics['n']} samples: built {metrics['success_rate']:.3f}, "
        f"valid {metrics['validity_rate']:.3f}, symmetry recovered "
        f"{metrics['symmetry_recovery_rate']:.3f} ({metrics['seconds']:.1f} s)"
    )
    print(f"structures written to {args.out} (index.csv, cif/, metrics.json)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from crystalgfn.judge.evaluate import evaluate

    builder = {}
    if args.backend is not None or _needs_builder(args.input):
        builder["builder"] = _builder_name(args.backend)
    try:
        summary = evaluate(
            args.input, args.out, oracle=args.oracle, n=args.n, jobs=args.jobs, seed=args.seed,
            placements=args.placements, fmax=args.fmax, steps=args.steps, **builder,
            max_seconds=args.max_seconds, device=args.device,
            elements=[s.strip() for s in args.elements.split(",") if s.strip()]
            if args.elements else None,
        )
    except KeyboardInterrupt:
        print(
            f"\ncrystalgfn: interrupted; the rows judged so far are kept in "
            f"{args.out}/rows.jsonl — run the same command again to continue",
            file=sys.stderr,
        )
        return 130
    rates = summary["rates"]

    def pct(value):
        return "n/a" if value is None else f"{100 * value:.1f} %"

    print(
        f"{summary['n']} inputs: built {pct(rates['built'])}, relaxed {pct(rates['relaxed'])}, "
        f"stable (E_hull <= 0.1 eV/atom) {pct(rates['stable'])}, S.U.N. {pct(rates['sun'])}, "
        f"symmetry kept {pct(rates['symmetry_kept'])}"
    )
    units = summary.get("median_units", {})
    medians = [
        f"{name} {value:.4g} {units.get(name, '')}".rstrip()
        for name, value in summary["medians"].items()
        if value is not None
    ]
    if medians:
        print(f"medians ({summary['oracle']}): {', '.join(medians)}")
    print(f"evaluation written to {args.out}/evaluation.csv (summary: {args.out}/summary.json)")
    return 0


def cmd_active_learn(args: argparse.Namespace) -> int:
    from crystalgfn.active.campaign import run_campaign
    from crystalgfn.active.config import CampaignConfig

    config = CampaignConfig.from_file(args.config)
    try:
        result = run_campaign(config, args.out)
    except KeyboardInterrupt:
        print(f"\ncrystalgfn: interrupted; run the same command again to continue the "
              f"campaign in {args.out}", file=sys.stderr)
        return 130
    print(f"{len(result['rounds'])} round(s); stopped: {result['stopped']}; report: "
          f"{args.out}/report/report.md")
    return 0


def _usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crystalgfn",
        description="Sample crystals with desirable properties under hard constraints.",
    )
    parser.add_argument("--version", action="version", version=f"crystalgfn {__version__}")
    parser.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads of torch (default 1, fastest for the small batches of GFlowNet "
        "steps; 'sample' defaults to one per core, for its batches of thousands of crystals; "
        "training uses the run config's 'threads')",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    plugins = commands.add_parser("plugins", help="list installed plugins and what they provide")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.add_argument(
        "--check", action="store_true",
        help="also import everything each plugin registered (slower: imports torch), and exit "
        "1 if anything fails to import",
    )
    plugins.set_defaults(handler=cmd_plugins, uses_torch=False)  # stays fast: no torch

    train = commands.add_parser("train", help="train a GFlowNet from a TOML run config")
    train.add_argument("--config", help="TOML file of names and keyword arguments")
    train.add_argument("--out", required=True, help="run directory (checkpoints, metrics)")
    train.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint"
    )
    train.add_argument("--device", choices=["cpu", "cuda"], default=None)
    train.add_argument(
        "--steps", type=int, default=None, help="override the config's number of steps"
    )
    train.add_argument(
        "--max-minutes", type=float, default=None, metavar="M",
        help="stop after M minutes of training, at the end of a step, with a checkpoint; "
        "--resume finishes the run exactly as if it had not stopped",
    )
    train.set_defaults(handler=cmd_train)

    sample = commands.add_parser("sample", help="sample crystals and write them as CSV")
    source = sample.add_mutually_exclusive_group()
    source.add_argument("--run", help="run directory of a trained GFlowNet")
    source.add_argument(
        "--policy", metavar="NAME",
        help="sample an untrained registered policy (see 'crystalgfn plugins'); uniform: the "
        "random policy (the paper's random baseline, the default without --run)",
    )
    sample.add_argument("-n", type=int, default=1000, help="number of samples (default 1000)")
    sample.add_argument("--out", required=True, help="CSV file to write")
    sample.add_argument(
        "--env", default=None,
        help="environment spec for --policy (default: crystal)",
    )
    sample.add_argument(
        "--config", default=None,
        help="with --policy: take the environment (env, [env_kwargs], [restrictions]) from "
        "this run config, e.g. a uniform baseline on the same space as a run",
    )
    sample.add_argument("--batch-size", type=int, default=10000)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    add_restriction_arguments(sample)
    # One batch of up to 10,000 crystals per step: large enough for every core to help.
    sample.set_defaults(handler=cmd_sample, default_threads=_usable_cores())

    report = commands.add_parser("report", help="metrics, top-k tables and plots of a samples CSV")
    report.add_argument("samples", help="samples CSV (as written by 'crystalgfn sample')")
    report.add_argument(
        "--reference", help="reference CSV in the same format, or a Materials Project table"
    )
    source = report.add_mutually_exclusive_group()
    source.add_argument(
        "--env", default=None, help="environment spec whose checks to run (default: crystal)"
    )
    source.add_argument(
        "--run",
        help="check against the environment of this training run (restrictions included)",
    )
    add_restriction_arguments(report)
    report.add_argument("--out", required=True, help="report directory to write")
    report.add_argument("--top", type=int, default=100, help="k of top-k by reward (default 100)")
    report.add_argument(
        "--evaluation", action="append", metavar="[LABEL=]DIR",
        help="an evaluation folder written by 'crystalgfn evaluate' (repeat to show several "
        "side by side, e.g. --evaluation samples=DIR1 --evaluation uniform=DIR2)",
    )
    report.add_argument(
        "--baseline", metavar="[LABEL=]CSV",
        help="samples of a baseline policy in the same environment, shown next to the samples "
        "(e.g. 'crystalgfn sample --policy uniform'; label default: uniform baseline)",
    )
    report.add_argument(
        "--compare", metavar="[LABEL=]CSV",
        help="samples of another run shown next to these, e.g. unrestricted=OTHER.csv for a "
        "restricted run (label default: the file's name without .csv)",
    )
    report.set_defaults(handler=cmd_report)

    structures = commands.add_parser(
        "structures", help="place atoms on Wyckoff positions: one CIF per sample, plus metrics"
    )
    structures.add_argument("samples", help="samples CSV (as written by 'crystalgfn sample')")
    structures.add_argument(
        "--out", required=True, help="directory for index.csv, cif/, metrics.json"
    )
    structures.add_argument(
        "--backend", default=None,
        help="structure builder (default: the only one installed; 'crystalgfn plugins' lists "
        "them)",
    )
    structures.add_argument("--seed", type=int, default=0)
    structures.add_argument(
        "--min-distance-scale", type=float, default=0.5,
        help="minimum distance between atoms i, j as a multiple of r_i + r_j (covalent radii; "
        "default 0.5), never below 0.5 Å",
    )
    structures.add_argument(
        "--timeout", type=float, default=20.0, help="seconds per sample (default 20)"
    )
    structures.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    structures.add_argument(
        "--reference", help="JSONL of reference structures for novelty (default: shipped MP slice)"
    )
    structures.set_defaults(handler=cmd_structures)

    evaluate = commands.add_parser(
        "evaluate",
        help="judge samples or CIF files with an oracle: relax, formation energy, E above "
        "hull, S.U.N.",
    )
    evaluate.add_argument(
        "input", help="samples CSV (atoms are placed first), a CIF file or a folder of CIFs"
    )
    evaluate.add_argument("--out", required=True,
                          help="folder for evaluation.csv, summary.json, relaxed/ (resumable)")
    evaluate.add_argument("--oracle", default="chgnet", help="oracle (default: chgnet)")
    evaluate.add_argument("--n", type=int, default=None,
                          help="judge a random subsample of N inputs (default: all)")
    evaluate.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    evaluate.add_argument("--seed", type=int, default=0,
                          help="seed of the subsample and of the atom placements (default 0)")
    evaluate.add_argument(
        "--placements", type=int, default=1,
        help="independent Wyckoff placements per sample, each relaxed, the lowest energy kept "
        "(default 1)",
    )
    evaluate.add_argument("--backend", default=None,
                          help="structure builder for samples (default: the only one "
                          "installed; 'crystalgfn plugins' lists them)")
    evaluate.add_argument("--fmax", type=float, default=0.1,
                          help="force convergence threshold, eV/Å (default 0.1)")
    evaluate.add_argument("--steps", type=int, default=300,
                          help="most relaxation steps per structure (default 300)")
    evaluate.add_argument("--max-seconds", type=float, default=600.0,
                          help="most seconds per relaxation (default 600); like the step "
                          "limit, the structure is then scored as it stands")
    evaluate.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    evaluate.add_argument(
        "--elements", help="judge only samples made of these elements, e.g. the run's "
        "(comma-separated; applied before --n)",
    )
    evaluate.set_defaults(handler=cmd_evaluate)

    active = commands.add_parser(
        "active-learn",
        help="active learning: rounds of train, sample, label with an oracle, refit the proxy",
        description="Rounds of: train (or continue) the GFlowNet on the proxy's reward; sample "
        "and pick a batch (UCB with diversity); relax and label it with an oracle; fine-tune "
        "an oracle-fidelity copy of the proxy on every label so far. Resumable: run the same "
        "command again to continue (docs/active-learning.md).",
    )
    active.add_argument("--config", required=True, help="campaign config (TOML), e.g. "
                        "configs/active_learning.toml")
    active.add_argument("--out", required=True, help="campaign folder (resumable)")
    active.set_defaults(handler=cmd_active_learn)
    return parser


@contextlib.contextmanager
def _plain_warnings():
    """Warnings (e.g. rows a report could not measure) as one ``crystalgfn: warning:`` line
    on stderr, when they happen, instead of Python's file:line and source excerpt."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"crystalgfn: warning: {message}", file=sys.stderr if file is None else file)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except BrokenPipeError:
        # The reader went away (``crystalgfn plugins | head``): stop quietly. Later writes
        # (Python flushes stdout at exit) go to /dev/null instead of raising again.
        try:
            stdout = sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):  # not a file (e.g. captured)
            return 141
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout)
        os.close(devnull)
        return 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe


def _main(argv: list[str]) -> int:
    parser = build_parser()
    detached = detached_negative_range(argv)
    if detached is not None:
        parser.error(detached)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        sys.stdout.flush()
        return 0
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if getattr(args, "uses_torch", True):
        import torch

        torch.set_num_threads(args.threads or getattr(args, "default_threads", 1))
    try:
        with _plain_warnings():
            status = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, inside main, not at interpreter exit
        return status
    except CrystalGFNError as error:
        print(f"crystalgfn: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

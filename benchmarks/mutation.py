"""Mutation testing of the numeric and keying core (docs/mutation.md): runs mutmut over the modules and functions
of `[tool.melt.mutation]` in pyproject.toml and prints, per module, killed / non-equivalent mutants.

    python benchmarks/mutation.py                      # every listed module (slow: minutes)
    python benchmarks/mutation.py melt/metrics.py      # one or more of them
    python benchmarks/mutation.py --no-run             # score the results of the last run again

Equivalent mutants (no test can tell them from the original) are listed with a reason in docs/mutation.md and
left out of the denominator. Exit status 1 when any module is below the goal (90 %); survivors that are neither
killed nor listed are printed. Not part of the README test command or CI.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "mutation.md"
KILLED = {"killed", "timeout", "caught by type check", "segfault"}   # mutmut's own notion of a caught mutant
EQUIVALENT_ROW = re.compile(r"^\|\s*`(melt\.[\w.ǁ]+__mutmut_\d+)`\s*\|\s*(.+?)\s*\|\s*$")


@dataclass
class Score:
    module: str
    total: int = 0
    killed: int = 0
    equivalent: int = 0
    skipped: int = 0
    not_run: int = 0     # "not checked": mutmut has no result (the run was stopped, or a config change reset it)
    survivors: list[str] = field(default_factory=list)
    stale_equivalents: list[str] = field(default_factory=list)   # listed as equivalent, yet a test kills them

    @property
    def scored(self) -> int:
        return self.total - self.equivalent - self.skipped - self.not_run

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.scored if self.scored else float("nan")

    @property
    def shown(self) -> str:
        return f"{self.percent:6.1f}%" if self.scored else "    n/a"


def config() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["melt"]["mutation"]


def dotted(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def patterns(path: str, functions: list[str]) -> list[str]:
    """mutmut's mutant names: `<module>.x_<function>__mutmut_<n>`, `<module>.xǁ<Class>ǁ<method>__mutmut_<n>`."""
    if functions == ["*"]:
        return [f"{dotted(path)}.*"]
    return [f"{dotted(path)}.x_{f}__mutmut_*" if "." not in f else
            f"{dotted(path)}.xǁ{f.split('.')[0]}ǁ{f.split('.')[1]}__mutmut_*" for f in functions]


def equivalents() -> dict[str, str]:
    rows = (EQUIVALENT_ROW.match(line) for line in DOC.read_text(encoding="utf-8").splitlines())
    return {m.group(1): m.group(2) for m in rows if m}


def results() -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            found[name] = status
    return found


def score(path: str, functions: list[str], status: dict[str, str], equivalent: dict[str, str]) -> Score:
    import fnmatch

    s = Score(path)
    for name, st in sorted(status.items()):
        if not any(fnmatch.fnmatchcase(name, p) for p in patterns(path, functions)):
            continue
        s.total += 1
        if st in KILLED:
            s.killed += 1
            if name in equivalent:
                s.stale_equivalents.append(name)
        elif name in equivalent:
            s.equivalent += 1
        elif st == "skipped":
            s.skipped += 1
        elif st == "not checked":
            s.not_run += 1
        else:
            s.survivors.append(f"{name}: {st}")
    return s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="paths as listed in [tool.melt.mutation.modules] (default: all)")
    parser.add_argument("--no-run", action="store_true", help="score the last run's results, run nothing")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    cfg = config()
    listed: dict[str, list[str]] = cfg["modules"]
    unknown = [m for m in args.modules if m not in listed]
    if unknown:
        parser.error(f"not in [tool.melt.mutation.modules]: {unknown}; listed: {list(listed)}")
    chosen = {m: listed[m] for m in (args.modules or listed)}

    start = time.perf_counter()
    if not args.no_run:
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
        env.pop("PYTHONPATH", None)   # mutmut puts its mutated copy (mutants/) first on the path itself
        log = REPO / "mutants" / "run.log"
        log.parent.mkdir(exist_ok=True)
        names = [p for path, funcs in chosen.items() for p in patterns(path, funcs)]
        with open(log, "w", encoding="utf-8") as f:
            code = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children),
                                   *names], cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
        if code != 0:
            print(f"mutmut run failed (exit {code}); see {log}", file=sys.stderr)
            return 2
    elapsed = time.perf_counter() - start

    status, equivalent = results(), equivalents()
    scores = [score(path, funcs, status, equivalent) for path, funcs in chosen.items()]
    goal = float(cfg.get("goal_percent", 90))
    print(f"{'module':34} {'mutants':>7} {'equiv.':>6} {'killed':>6} {'survived':>8} {'not run':>7} {'score':>7}")
    for s in scores:
        print(f"{s.module:34} {s.total:7d} {s.equivalent:6d} {s.killed:6d} {len(s.survivors):8d} {s.not_run:7d} "
              f"{s.shown}")
    total = Score("all", sum(s.total for s in scores), sum(s.killed for s in scores),
                  sum(s.equivalent for s in scores), sum(s.skipped for s in scores), sum(s.not_run for s in scores))
    print(f"{'all':34} {total.total:7d} {total.equivalent:6d} {total.killed:6d} "
          f"{sum(len(s.survivors) for s in scores):8d} {total.not_run:7d} {total.shown}")
    if not args.no_run:
        print(f"run time: {elapsed:.0f} s ({total.total / elapsed:.2f} mutants/s)")
    failed = False
    for s in scores:
        for name in s.survivors:
            print(f"survivor (kill it or list it in docs/mutation.md): {name}")
        for name in s.stale_equivalents:
            print(f"listed as equivalent but killed (remove it from docs/mutation.md): {name}")
        if s.total == 0 or s.not_run:
            print(f"{s.module}: {s.not_run} of {s.total} mutants have no result: run it (again)")
            failed = True
        failed |= s.percent < goal
    missing = sorted(set(equivalent) - set(status))
    for name in missing:
        print(f"listed as equivalent but no such mutant (code changed? re-check docs/mutation.md): {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

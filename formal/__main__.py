"""``make formal`` / ``python -m sysconv.formal``: run the formal checks and print the table.

Each check prints a line to stderr as SymbiYosys starts it and one as it ends (its result,
wall and CPU seconds), so a long run (``--long``: about 24 minutes) shows where it is;
``--quiet`` prints only the table. Exit status 0 when every property passed and every mutated
design was caught, 1 otherwise (the report of each check that did not come out as expected is
printed after the table).
"""

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .checks import CHECKS, LONG, MUTANTS, find
from .report import columns, explain, finished, started, table, verdict
from .sby import run, vcd
from .trace import format_trace, read_vcd


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sysconv.formal", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--long",
        action="store_true",
        help="also the deeper bounded checks (what `pytest -m long` runs)",
    )
    parser.add_argument(
        "-k", metavar="TEXT", default="", help="only the checks whose name contains TEXT"
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="checks run at once (default: the number of CPUs)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="run every check again even if its cached result still applies",
    )
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    parser.add_argument(
        "--trace",
        metavar="KEY",
        help="print the trace (counterexample or cover) of check KEY's last run",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress lines (each check as it starts and ends), only the table",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, not {args.jobs}")

    checks = [c for c in CHECKS + MUTANTS + (LONG if args.long else []) if args.k in c.key]
    if args.list:
        for check in checks:
            print(f"{check.key:40} {check.mode:5} {check.depth:4}  {check.doc}")
        return 0
    if args.trace:
        try:
            check = find(args.trace)
        except ValueError as error:
            parser.error(str(error))
        result = run(check)
        trace = vcd(check, result)
        if not trace:
            print(f"{args.trace}: {result.status}, no trace", file=sys.stderr)
            return 1
        steps = read_vcd(trace)
        print(trace)
        print(format_trace(steps, columns(steps)))
        return 0
    if not checks:
        parser.error(f"no check's name contains {args.k!r}")

    start = time.monotonic()
    lock, done = threading.Lock(), [0]

    def say(line):  # with `lock` held: whole lines, and the count in order
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    def start_of(check):
        with lock:
            say(started(check))

    def one(check):
        result = run(check, use_cache=not args.no_cache, on_start=lambda: start_of(check))
        with lock:
            done[0] += 1
            say(finished(check, result, done[0], len(checks)))
        return result

    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(one, checks))
    rows = list(zip(checks, results, strict=True))
    print(table(rows))
    bad = [(check, result) for check, result in rows if not verdict(check, result)[0]]
    for check, result in bad:
        print("\n" + explain(check, result))
    properties = sum(check.expect == "pass" for check in checks)
    print(
        f"\n{properties} properties, {len(checks) - properties} mutated designs; "
        f"{len(bad)} not as expected; {sum(r.cpu for r in results):.0f} s of CPU "
        f"({sum(r.cpu for r in results if not r.cached):.0f} s now, the rest cached), "
        f"{time.monotonic() - start:.0f} s wall"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""tests/support/golf_test.py: what golf's Python tests share: golf-host calls, checks, a corpus of golf's sources.

A test runs as `TEST.py GOLF_HOST SOURCE_DIR`; it calls check() for each assertion and ends with
sys.exit(report(name)).
"""
import pathlib
import subprocess
import sys

HOST, SOURCE = sys.argv[1], pathlib.Path(sys.argv[2])
failures, passed = [], []


def check(ok, what):
    """Records one assertion and prints it: `ok   what` or `FAIL what`."""
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    (passed if ok else failures).append(what)


def golf(*args, expect=0):
    """Runs golf-host with `args`; stops the test unless it exits with `expect`. Returns its output."""
    r = subprocess.run([HOST, *map(str, args)], capture_output=True, text=True)
    if r.returncode != expect:
        sys.exit(f"golf-host {' '.join(map(str, args))}: exit {r.returncode}, expected {expect}\n{r.stdout}{r.stderr}")
    return r.stdout + r.stderr


def write_corpus(folder):
    """A corpus folder of golf's own host and SDK sources, one document per file, in a fixed order."""
    folder.mkdir()
    files = sorted(list((SOURCE / "host").glob("*")) + list((SOURCE / "sdk/include/golf").glob("*")))
    for i, f in enumerate(files):
        (folder / f"{1000 + i}.txt").write_text(f.read_text())


def report(name):
    """Prints the tally; the exit code for the test (1 if any check failed)."""
    print(f"{name}: {len(passed)} passed, {len(failures)} failed")
    return 1 if failures else 0

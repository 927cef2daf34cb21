"""The full cluster fault suite, with its figures: one command.

Runs ``tests/cluster`` with every scenario (the short version CI runs has two): a 3-node
``nats-server`` cluster on loopback, two ``anystream run --workers 2`` instances (trio and
asyncio), a publisher throughout; kill -9 of each app's node, kill -9 of the stream leader,
lame duck of one node, a rolling restart of all three, then every node down. Prints one
line of figures per scenario and writes them as JSON lines to ``--report``.

    python scripts/cluster_faults.py
    python scripts/cluster_faults.py --report /tmp/cluster.jsonl -k lame
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", default="cluster-faults.jsonl", help="JSON lines figures")
    parser.add_argument("-k", default=None, help="only the scenarios matching (pytest -k)")
    args = parser.parse_args()
    report = Path(args.report).resolve()
    report.unlink(missing_ok=True)
    env = {**os.environ, "ANYSTREAM_CLUSTER_FULL": "1", "ANYSTREAM_CLUSTER_REPORT": str(report)}
    command = [sys.executable, "-m", "pytest", "tests/cluster", "-s", "-q"]
    command += ["-p", "no:cacheprovider"]
    if args.k:
        command += ["-k", args.k]
    # Every wait inside has its own timeout; this bounds the whole run.
    result = subprocess.run(["timeout", "1200", *command], cwd=ROOT, env=env, check=False)
    print(f"figures: {report}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())

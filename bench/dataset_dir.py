"""Finds a public dataset's folder the way every bertd script does, through scripts/fetch-data.sh:
$BERTD_DATA_DIR/NAME (a local mirror), the cache .data/NAME, or a download from the set's
original home checked against scripts/data-manifest.tsv. Standard library only."""
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def dataset_dir(name):
    """The folder of dataset NAME (atis, snips, agnews, loghub); exits with fetch-data.sh's
    one-line reason when it cannot be had."""
    p = subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-data.sh"), name],
                       capture_output=True, text=True)
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    if p.returncode != 0 or not lines:
        err = [l for l in p.stderr.splitlines() if l.strip()]
        sys.exit(err[-1] if err else "fetch-data.sh %s failed (exit %d)" % (name, p.returncode))
    return lines[-1]

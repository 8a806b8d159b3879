"""The claims suite on the engine and on MiniGrid, back to back, timed and split by kind of work.

Runs ``pytest claims/ -n auto`` (ci profile, gated against ``claims/expected.toml``) twice:
with the engine (the default backend) and with ``AVEC_BACKEND=minigrid``. Neither run touches
the committed record: each judges a temporary copy of the models folder and its record, so the
plugin writes its complete report there (``--avec-models DIR`` writes ``DIR/reports/``), and
the script checks that both reports equal the committed ``reports/`` (JSON, Markdown and
figures, byte for byte). The ``claims_timing`` plugin (this folder) splits each process's time
into startup+collection, env, levels, policy, Hypothesis, report and the claims' own code; the
table sums the workers and the controller.

    python benchmarks/claims.py            # two full claims runs: about 6-15 minutes
    python benchmarks/claims.py -n 2 --only engine

The last line is ``claims engine/minigrid: X.XX`` (wall time); target (the engine issue): <= 0.33.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("engine", "minigrid")
PARTS = (
    "startup+collection",
    "env",
    "levels",
    "policy",
    "Hypothesis",
    "report",
    "claims code",
    "idle (waiting for work, xdist)",
)


def models_folder(folder: Path) -> Path:
    """A copy of the committed zoo and its record, elsewhere (the zoo refuses links that lead
    out of the models folder)."""
    models = folder / "models"
    models.mkdir()
    for source in (ROOT / "fixtures" / "models").iterdir():
        shutil.copy(source, models / source.name)
    shutil.copy(ROOT / "claims" / "expected.toml", models / "expected.toml")
    return models


def run(backend: str, workers: str, folder: Path) -> dict:
    """One gated claims run on ``backend``: wall time, exit code, time split, its report."""
    models = models_folder(folder)
    timing = folder / "timing"
    timing.mkdir()
    env = {
        **os.environ,
        "AVEC_BACKEND": backend,
        "AVEC_TIMING_DIR": str(timing),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH")])
        ),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "claims/",
        "-n",
        workers,
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "claims_timing",
        "--hypothesis-profile",
        "ci",
        "--avec-models",
        str(models),
    ]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
    records = [json.loads(p.read_text()) for p in sorted(timing.glob("*.json"))]
    return {
        "wall": wall,
        "returncode": done.returncode,
        "split": split(records),
        "processes": len(records),
        "report": files(models / "reports"),
    }


def files(folder: Path) -> dict[str, bytes]:
    """Every file of a report folder (``latest.*``, ``published.md``, ``figures/``) by path."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "partial" not in p.relative_to(folder).parts
    }


def split(records: list[dict]) -> dict[str, float]:
    """Seconds per part, summed over processes. A process's time from its start to its last
    act is startup (until its first test), the parts charged by ``claims_timing``, and idle
    (what is left: an xdist worker waiting for the next test or for the others to finish)."""
    parts = dict.fromkeys(PARTS, 0.0)
    for r in records:
        total = r["ended"] - r["started"]
        startup = (r["first_test"] or r["ended"]) - r["started"]
        if r["worker"] == "controller" and r["first_test"] is None:
            # Under xdist the controller runs no test: only its startup and its report count.
            parts["startup+collection"] += 0.0
            parts["report"] += r["seconds"].get("report", 0.0)
            continue
        parts["startup+collection"] += startup
        for name, seconds in r["seconds"].items():
            parts[name] += seconds
        parts[PARTS[-1]] += max(0.0, total - startup - sum(r["seconds"].values()))
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", default="auto", help="xdist workers (default: auto)")
    parser.add_argument("--only", choices=BACKENDS, help="time one backend only")
    ns = parser.parse_args(argv)
    committed = files(ROOT / "reports")
    results = {}
    for backend in [ns.only] if ns.only else BACKENDS:
        with tempfile.TemporaryDirectory(prefix=f"avec-claims-{backend}-") as folder:
            results[backend] = run(backend, ns.n, Path(folder))
        r = results[backend]
        same = "identical to" if r["report"] == committed else "DIFFERS from"
        print(
            f"{backend}: {r['wall']:.1f} s wall, exit code {r['returncode']}, report {same} "
            "the committed reports/",
            flush=True,
        )
    print()
    names = list(results)
    print("| part (seconds, summed over processes) | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for part in PARTS:
        cells = [f"{results[b]['split'][part]:.1f}" for b in names]
        print(f"| {part} | " + " | ".join(cells) + " |")
    totals = [f"{sum(results[b]['split'].values()):.1f}" for b in names]
    print("| total | " + " | ".join(totals) + " |")
    print("| wall | " + " | ".join(f"{results[b]['wall']:.1f}" for b in names) + " |")
    print()
    if len(results) == 2:
        ratio = results["engine"]["wall"] / results["minigrid"]["wall"]
        print(f"claims engine/minigrid: {ratio:.2f}")
    failed = any(r["returncode"] != 0 or r["report"] != committed for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Fuzz every input reader at scale (issue 8): the harness of tests/test_fuzz.py, thousands of cases.

For each reader (tests/fuzz_targets.py) draws ``--per-reader`` mutation plans with ``random``
(seeded by ``--seed``, the reader and the case number, so a case is replayed from those
three), runs each in a worker process (a reader that crashes the interpreter, e.g. in
htslib or XGBoost's C++ code, is recorded as ``crash`` and the worker restarted), and tallies
per reader: valid / named error / traceback / invariant (a result that lost records) / hang /
crash. Every distinct failure (exception type and the deepest frame in src/stratify) gets a
folder under ``--cases`` with its smallest input (line-minimised where the file is text),
the traceback and the replay command; up to ``--keep`` more examples go to
``<cases>/all/`` (not committed).

Writes ``bench/fuzz_inputs.tsv`` (one row per reader) and ``<cases>/index.tsv`` (one row
per distinct failure); bench/fuzz_catalog.md is written by hand from them.

    nice -n 10 uv run python bench/fuzz_inputs.py                        # 100 cases per reader, ~5 min
    uv run python bench/fuzz_inputs.py --per-reader 20 --readers config calls_aldy
    uv run python bench/fuzz_inputs.py --replay calls_aldy 0 '[["byte_flip", 0]]'   # one case, traceback shown
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from fuzz_mutators import mutate, random_plan  # noqa: E402

KINDS = ("valid", "named", "traceback", "invariant", "hang", "crash")
TEXT_FORMATS = ("tsv", "yaml", "json", "vcf")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def case_plan(master: int, reader: str, i: int, n_seeds: int, fmt: str) -> tuple[int, list[tuple[str, int]]]:
    """Seed file and plan of case ``i`` of ``reader``: the same for the same master seed."""
    r = random.Random(f"{master}/{reader}/{i}")
    return r.randrange(n_seeds), random_plan(fmt, r)


# ---------------------------------------------------------------------------------- worker


def worker(ws_dir: Path, time_limit: float) -> None:
    """Answer one JSON request per stdin line on the protocol fd (stdout goes to stderr, so
    that whatever a reader prints cannot break the protocol)."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    from fuzz_targets import Workspace, run_case

    ws = Workspace(ws_dir)
    proto.write(json.dumps({"ready": sorted(ws.targets)}) + "\n")
    scratch = Path(tempfile.mkdtemp(prefix="fuzzcase"))
    for line in sys.stdin:
        req = json.loads(line)
        t = ws.targets[req["reader"]]
        case = scratch / "c"
        shutil.rmtree(case, ignore_errors=True)
        if req.get("minimise"):
            data = Path(req["data"]).read_bytes()
            small = minimise(t, req["seed"], data, req["signature"], scratch, time_limit)
            Path(req["out"]).write_bytes(small)
            proto.write(json.dumps({"size": len(small)}) + "\n")
            continue
        data = Path(req["data"]).read_bytes() if req.get("data") else None
        out, data = run_case(t, req["seed"], [tuple(p) for p in req["plan"]], case, time_limit=time_limit, data=data)
        if out.kind not in ("valid", "named") and req.get("save"):
            Path(req["save"]).write_bytes(data)
        proto.write(
            json.dumps(
                {
                    "kind": out.kind,
                    "error": out.error,
                    "where": out.where,
                    "traceback": out.traceback,
                    "size": len(data),
                }
            )
            + "\n"
        )


def minimise(
    target, seed: int, data: bytes, signature: str, scratch: Path, time_limit: float, budget: int = 200
) -> bytes:
    """Greedy line-level reduction keeping the failure's signature (at most ``budget`` runs):
    chunks of lines are dropped, halving the chunk size down to single lines."""
    from fuzz_targets import run_case

    if target.fmt not in TEXT_FORMATS:
        return data

    def same(candidate: bytes) -> bool:
        shutil.rmtree(scratch / "m", ignore_errors=True)
        out, _ = run_case(target, seed, [], scratch / "m", time_limit=time_limit, data=candidate)
        return out.kind not in ("valid", "named") and out.signature == signature

    lines = data.splitlines(keepends=True)
    runs, chunk = 0, max(1, len(lines) // 2)
    while chunk >= 1 and runs < budget:
        i = len(lines) - chunk
        while i >= 1 and runs < budget:  # line 0 (a header) stays unless the whole file goes
            cand = lines[:i] + lines[i + chunk :]
            runs += 1
            if same(b"".join(cand)):
                lines = cand
            i -= chunk
        chunk //= 2
    return b"".join(lines)


class Worker:
    """A worker subprocess, restarted after a crash."""

    def __init__(self, ws_dir: Path, time_limit: float, err):
        self.args = [sys.executable, __file__, "--worker", str(ws_dir), "--time-limit", str(time_limit)]
        self.err, self.time_limit, self.p = err, time_limit, None
        self.start()

    def start(self) -> None:
        self.p = subprocess.Popen(
            self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1
        )
        self.targets = json.loads(self.p.stdout.readline())["ready"]

    def ask(self, req: dict) -> dict | None:
        """The answer, or None when the worker died or went silent (then it is restarted)."""
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        ready, _, _ = select.select([self.p.stdout], [], [], self.time_limit * 3 + 60)
        line = self.p.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        self.p.kill()
        rc = self.p.wait()
        log(f"worker {'silent' if not ready else 'died'} (exit {rc}) on {req.get('reader')}; restarting")
        self.start()
        if not ready:
            return {
                "kind": "hang",
                "error": "Hang: no answer from the worker; killed",
                "where": "(process)",
                "traceback": "",
            }
        return {
            "kind": "crash",
            "error": f"Crash: the worker process ended with exit status {rc}",
            "where": "(process)",
            "traceback": "",
        }

    def close(self) -> None:
        self.p.stdin.close()
        self.p.wait()


# ---------------------------------------------------------------------------------- the run


def run(args) -> None:
    from fuzz_targets import Workspace  # noqa: F401 - fail early on an import error

    cases_dir = Path(args.cases)
    shutil.rmtree(cases_dir, ignore_errors=True)
    (cases_dir / "all").mkdir(parents=True)
    tmp = Path(tempfile.mkdtemp(prefix="fuzz_inputs"))
    err = open(tmp / "worker_stderr.log", "w")
    w = Worker(tmp / "ws", args.time_limit, err)
    readers = args.readers or w.targets
    from fuzz_targets import Workspace as _W  # the seeds (sizes, formats) in this process too

    ws = _W(tmp / "ws_parent")
    tally: dict[str, Counter] = defaultdict(Counter)
    failures: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    for reader in readers:
        t = ws.targets[reader]
        t0 = time.monotonic()
        for i in range(args.per_reader):
            k, plan = case_plan(args.seed, reader, i, len(t.seeds), t.fmt)
            save = tmp / f"last_{reader}_{i}"
            res = w.ask({"reader": reader, "seed": k, "plan": plan, "save": str(save)})
            tally[reader][res["kind"]] += 1
            if res["kind"] in ("valid", "named"):
                continue
            if res["kind"] == "crash":
                save.write_bytes(mutate(t.seeds[k].data, t.fmt, plan))
            sig = f"{reader} | {res['error'].split(':', 1)[0]} at {res['where']}"
            f = failures.setdefault(
                sig,
                {
                    "reader": reader,
                    "kind": res["kind"],
                    "error": res["error"],
                    "where": res["where"],
                    "count": 0,
                    "examples": [],
                },
            )
            f["count"] += 1
            if f["count"] <= args.keep:
                shutil.copy(save, cases_dir / "all" / f"{_slug(sig)}.{i}.{t.seeds[k].name}")
            f["examples"].append(
                {
                    "case": i,
                    "seed": k,
                    "plan": plan,
                    "size": save.stat().st_size,
                    "traceback": res["traceback"],
                    "error": res["error"],
                }
            )
            f["examples"] = sorted(f["examples"], key=lambda e: e["size"])[:1]  # the smallest is minimised
            save.unlink(missing_ok=True)
        seconds[reader] = time.monotonic() - t0
        c = tally[reader]
        log(
            f"{reader}: {args.per_reader} cases in {seconds[reader]:.0f}s: "
            + ", ".join(f"{k} {c[k]}" for k in KINDS if c[k])
        )
    write_failures(failures, ws, w, cases_dir, tmp, args)
    w.close()
    err.close()
    shutil.copy(tmp / "worker_stderr.log", cases_dir / "all" / "worker_stderr.log")
    write_tally(tally, failures, seconds, ws, readers, args)


def _slug(sig: str) -> str:
    return hashlib.sha1(sig.encode()).hexdigest()[:10]


def write_failures(failures: dict, ws, w: Worker, cases_dir: Path, tmp: Path, args) -> None:
    """One folder per distinct failure: the smallest input (minimised), its traceback, how to replay it."""
    rows = []
    for sig, f in sorted(failures.items()):
        slug = _slug(sig)
        ex = f["examples"][0]
        t = ws.targets[f["reader"]]
        name = t.seeds[ex["seed"]].name
        d = cases_dir / f"{f['reader']}.{slug}"
        d.mkdir(parents=True)
        full = mutate(t.seeds[ex["seed"]].data, t.fmt, ex["plan"])
        (tmp / "full").write_bytes(full)
        size = len(full)
        if f["kind"] != "crash" and args.minimise:
            ans = w.ask(
                {
                    "reader": f["reader"],
                    "seed": ex["seed"],
                    "minimise": True,
                    "data": str(tmp / "full"),
                    "signature": f"{f['error'].split(':', 1)[0]} at {f['where']}",
                    "out": str(d / name),
                }
            )
            size = ans.get("size", size) if ans.get("kind") != "crash" else size
        if not (d / name).exists():
            (d / name).write_bytes(full)
        shown = (d / name).relative_to(ROOT) if (d / name).is_relative_to(ROOT) else d / name
        replay = f"uv run python bench/fuzz_inputs.py --replay {f['reader']} {ex['seed']} --data {shown}"
        (d / "case.json").write_text(
            json.dumps(
                {
                    "reader": f["reader"],
                    "kind": f["kind"],
                    "error": f["error"],
                    "where": f["where"],
                    "count": f["count"],
                    "seed_file": t.seeds[ex["seed"]].label,
                    "seed_index": ex["seed"],
                    "plan": ex["plan"],
                    "bench_case": ex["case"],
                    "master_seed": args.seed,
                    "input": name,
                    "input_bytes": size,
                    "unminimised_bytes": len(full),
                    "replay": replay,
                    "replay_plan": f"uv run python bench/fuzz_inputs.py --replay {f['reader']} {ex['seed']} "
                    f"'{json.dumps(ex['plan'])}'",
                },
                indent=1,
            )
            + "\n"
        )
        (d / "traceback.txt").write_text(ex["traceback"] or ex["error"])
        rows.append(
            {
                "reader": f["reader"],
                "kind": f["kind"],
                "count": f["count"],
                "error": f["error"][:200],
                "where": f["where"],
                "input_bytes": size,
                "folder": str(d.relative_to(ROOT)) if d.is_relative_to(ROOT) else str(d),
            }
        )
        log(f"{sig}: {f['count']} cases; minimal input {size} bytes in {d}")
    big = [str(p.relative_to(cases_dir)) for p in cases_dir.glob("*/*") if p.stat().st_size > 20000]
    (cases_dir / ".gitignore").write_text("".join(f"{p}\n" for p in ["all/", *sorted(big)]))  # not committed
    from _tsv import write_tsv

    write_tsv(
        rows,
        cases_dir / "index.tsv",
        ["reader", "kind", "count", "error", "where", "input_bytes", "folder"],
        lambda v, c: str(v).replace("\n", " "),
    )


def write_tally(tally, failures, seconds, ws, readers, args) -> None:
    from _tsv import write_tsv

    rows = []
    for r in readers:
        c = tally[r]
        rows.append(
            {
                "reader": r,
                "format": ws.targets[r].fmt,
                "seed_files": len(ws.targets[r].seeds),
                "cases": sum(c.values()),
                **{k: c[k] for k in KINDS},
                "distinct_failures": sum(1 for f in failures.values() if f["reader"] == r),
                "seconds": round(seconds[r], 1),
            }
        )
    total = Counter()
    for r in readers:
        total.update(tally[r])
    rows.append(
        {
            "reader": "ALL",
            "format": "",
            "seed_files": sum(len(ws.targets[r].seeds) for r in readers),
            "cases": sum(total.values()),
            **{k: total[k] for k in KINDS},
            "distinct_failures": len(failures),
            "seconds": round(sum(seconds.values()), 1),
        }
    )
    cols = ["reader", "format", "seed_files", "cases", *KINDS, "distinct_failures", "seconds"]
    write_tsv(rows, Path(args.out), cols, lambda v, c: str(v))
    print("\t".join(cols))
    for row in rows:
        print("\t".join(str(row[c]) for c in cols))


def replay(args) -> None:
    from fuzz_targets import Workspace, run_case

    reader, k = args.replay[0], int(args.replay[1])
    plan = [tuple(p) for p in json.loads(args.replay[2])] if len(args.replay) > 2 else []
    ws = Workspace(Path(tempfile.mkdtemp(prefix="fuzz_replay")))
    data = Path(args.data).read_bytes() if args.data else None
    case = Path(tempfile.mkdtemp(prefix="fuzz_case"))
    out, data = run_case(ws.targets[reader], k, plan, case, time_limit=args.time_limit, data=data)
    print(f"{reader}: {out.kind}: {out.error}\n{out.where}\n{out.traceback}\ninput ({len(data)} bytes) in {case}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-reader", type=int, default=100, help="cases per reader (default 100)")
    ap.add_argument("--readers", nargs="*", help="only these readers (names as in tests/test_fuzz.py)")
    ap.add_argument("--seed", type=int, default=8, help="master seed of the plans (default 8)")
    ap.add_argument("--keep", type=int, default=3, help="failing examples kept per distinct failure")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--no-minimise", dest="minimise", action="store_false")
    ap.add_argument("--cases", default=str(ROOT / "bench" / "fuzz_failures"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "fuzz_inputs.tsv"))
    ap.add_argument("--replay", nargs="+", metavar="ARG", help="READER SEED_INDEX [PLAN_JSON]: run one case")
    ap.add_argument("--data", help="with --replay: the mutated input itself (a failure folder's file)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(Path(args.worker), args.time_limit)
    elif args.replay:
        replay(args)
    else:
        run(args)


if __name__ == "__main__":
    main()

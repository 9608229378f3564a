"""Start-up time and memory as a new user meets them, median of N runs on this machine.

    .venv/bin/python scripts/startup_timing.py [--runs 5] [--index index] [--cold] [--json OUT]

- app ready: `python app.py` started -> its page answers 200 and a `/chat`
  call (Gradio's HTTP API, as a client would make it) has returned an answer;
  prebuilt index (built first if missing).
- app resident memory: VmRSS of that process after the answer and after
  five more questions (the reader and the index loaded).
- `rag ask`: wall time of `python -m rag ask "…"` for one question.
- `--cold`: also the app started on an empty index folder (the first build).

Absolute times are noisy on a shared 2-core machine: compare figures taken in
one run (see the README's start-up table).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["张连印回乡18年种了多少树？", "吉家庄村的第一书记是谁？", "山西省共选派了多少名干部到村任职？",
             "宝日呼吉尔街道有多少辆电动车？", "张连印的妻子叫什么名字？", "阳高县有多少个村？"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def chat(url: str, question: str, timeout: float = 120) -> str:
    """One `/chat` call over Gradio's HTTP API; returns the final message (raises on an error event)."""
    body = json.dumps({"data": [question, [], 5, "混合 hybrid", "抽取式 extractive"]}).encode()
    req = urllib.request.Request(url + "/gradio_api/call/chat", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        event_id = json.loads(r.read())["event_id"]
    last, event = "", ""
    with urllib.request.urlopen(f"{url}/gradio_api/call/chat/{event_id}", timeout=timeout) as r:
        for raw in r:
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                if event == "error":
                    raise RuntimeError(f"/chat error: {line[5:].strip()}")
                data = json.loads(line[5:])
                if isinstance(data, list) and data:
                    last = str(data[0])
    return last


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def app_start(index: Path, corpus: Path, timeout: float = 600) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--index", str(index),
                             "--corpus", str(corpus)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        answer = ""
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                raise SystemExit("app exited during start-up")
            try:
                if _get(url + "/", timeout=2)[0] == 200:
                    answer = chat(url, QUESTIONS[0])
                    if "205万株" in answer:
                        break
            except (OSError, RuntimeError):
                pass
            time.sleep(0.05)
        else:
            raise SystemExit(f"app not answering after {timeout} s (last: {answer[:80]!r})")
        ready = time.perf_counter() - t0
        rss_ready = rss_mb(proc.pid)
        for q in QUESTIONS[1:]:
            chat(url, q)
        return {"ready_s": ready, "rss_ready_mb": rss_ready, "rss_after_6_mb": rss_mb(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def rag_ask(index: Path, corpus: Path) -> float:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "rag", "ask", QUESTIONS[0], "--index", str(index), "--corpus", str(corpus)],
                       cwd=ROOT, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if p.returncode != 0 or "205万株" not in p.stdout:
        raise SystemExit(f"rag ask failed: {p.stderr.strip() or p.stdout[:200]}")
    return took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--index", default="index")
    ap.add_argument("--corpus", default="seeds")
    ap.add_argument("--cold", action="store_true", help="also time the app on an empty index folder (first build)")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args(argv)
    index, corpus = (ROOT / args.index).resolve(), (ROOT / args.corpus).resolve()
    if not (index / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "rag", "build", "--index", str(index), "--corpus", str(corpus)],
                       cwd=ROOT, check=True)
    rag_ask(index, corpus)  # warm the page cache once, as a user's second start would be
    apps = [app_start(index, corpus) for _ in range(args.runs)]
    asks = [rag_ask(index, corpus) for _ in range(args.runs)]
    med = statistics.median
    figures = {
        "runs": args.runs,
        "app_ready_s": round(med(a["ready_s"] for a in apps), 2),
        "app_ready_s_all": [round(a["ready_s"], 2) for a in apps],
        "app_rss_ready_mb": round(med(a["rss_ready_mb"] for a in apps)),
        "app_rss_after_6_questions_mb": round(med(a["rss_after_6_mb"] for a in apps)),
        "rag_ask_s": round(med(asks), 2),
        "rag_ask_s_all": [round(x, 2) for x in asks],
    }
    if args.cold:
        with tempfile.TemporaryDirectory() as tmp:
            figures["app_ready_cold_build_s"] = round(app_start(Path(tmp) / "index", corpus)["ready_s"], 1)
    for k, v in figures.items():
        print(f"{k}: {v}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time `python app.py` to a ready page (prebuilt index and cold build) and the
first visible answer token, on this machine.

    .venv/bin/python scripts/startup_timing.py
"""

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
            if not json.loads(r.read())["ready"]:
                return False
        with urllib.request.urlopen(url + "/", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def start(index: Path) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--index", str(index)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not ready(url):
        if proc.poll() is not None:
            raise SystemExit("app exited")
        time.sleep(0.05)
    return proc, url, time.perf_counter() - t0


def main() -> None:
    from gradio_client import Client

    with tempfile.TemporaryDirectory() as tmp:
        cold_index = Path(tmp) / "index"
        proc, url, cold = start(cold_index)
        proc.terminate()
        proc.wait()
        proc, url, warm = start(cold_index)
        try:
            client = Client(url + "/", verbose=False)
            firsts, totals = [], []
            for q in ["张连印回乡18年种了多少树？", "吉家庄村的第一书记是谁？", "山西省共选派了多少名干部到村任职？"]:
                t0 = time.perf_counter()
                job = client.submit(q, api_name="/chat")
                while not job.outputs():
                    time.sleep(0.002)
                firsts.append(time.perf_counter() - t0)
                job.result()
                totals.append(time.perf_counter() - t0)
        finally:
            proc.terminate()
            proc.wait()
    print(f"app start to ready page, cold build: {cold:.1f} s")
    print(f"app start to ready page, prebuilt index: {warm:.1f} s")
    print("first streamed answer text (gradio_client): " + ", ".join(f"{x * 1000:.0f} ms" for x in firsts))
    print("complete answer: " + ", ".join(f"{x * 1000:.0f} ms" for x in totals))


if __name__ == "__main__":
    main()

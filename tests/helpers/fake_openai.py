"""A stand-in OpenAI-compatible chat server for tests (stdlib only).

POST /v1/chat/completions with "stream": true answers in server-sent events,
like Ollama, vLLM or the llama.cpp server. Its "model" quotes the first
sentence of passage [1] with a [1] marker (supported), then adds a sentence
that no passage supports. Usage: python fake_openai.py PORT
"""

import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        if self.path.rstrip("/") != "/v1/chat/completions":
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        m = re.search(r"\[1\] 《[^》]*》\n(.*?)(?:\n\n\[2\]|\n\n问题)", prompt, re.S)
        first = re.search(r"[^。！？\n]+[。！？]", m.group(1)).group(0) if m else "没有资料。"
        answer = f"{first}[1]他的妻子名叫王芳，今年九十岁。[1]"
        pieces = [answer[i : i + 5] for i in range(0, len(answer), 5)]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for p in pieces:
            chunk = {"choices": [{"index": 0, "delta": {"content": p}}]}
            self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()

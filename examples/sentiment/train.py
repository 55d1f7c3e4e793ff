"""Trains the sentiment classifier on ``data/reviews.csv`` and exports it to ONNX.

Run ``python examples/sentiment/train.py`` to retrain and print the held-out accuracy.
``app.py`` calls ``ensure_model()`` on start, so a fresh clone trains on first serve.

The model is TF-IDF over single words plus logistic regression, fitted on 80% of the
reviews (stratified split, fixed seed); the other 20% measure it. Before vectorizing,
``prepare`` marks the words that follow a negation ("not bad" becomes "not not_bad"), which
lets a bag of words tell "not bad" from "bad". In 5-fold cross-validation on this data that
gained 4 points of accuracy, while adding word bigrams lost 3. Serving loads only the ONNX
file, so nothing is ever unpickled.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import re
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA_PATH = HERE / "data" / "reviews.csv"
MODEL_ENV = "SENTIMENT_MODEL_PATH"
LABELS = ("negative", "positive")
SEED = 42
HELD_OUT_FRACTION = 0.2
ONNX_INPUT = "text"
_MAX_EXPORT_DRIFT = 1e-4

_TOKEN = re.compile(r"\w[\w']*|[.,;:!?]")
_NEGATION = re.compile(
    r"not|no|never|nothing|nobody|none|neither|nor|cannot|without|"
    r"hardly|barely|\w+n't"
)
_CLAUSE_END = frozenset(".,;:!?")
_SPACE_SEPARATED = r"\S+"  # prepare() has already tokenized


def model_path() -> Path:
    """Where the ONNX model lives: ``$SENTIMENT_MODEL_PATH``, else ``artifacts/sentiment.onnx``."""
    return Path(os.environ.get(MODEL_ENV) or HERE / "artifacts" / "sentiment.onnx")


def prepare(text: str) -> str:
    """Lowercased words joined by spaces; words after a negation get ``not_`` up to the
    clause's end, so "I did not enjoy it." becomes "i did not not_enjoy not_it"."""
    words: list[str] = []
    negated = False
    for token in _TOKEN.findall(text.lower().replace("\u2019", "'")):
        if token in _CLAUSE_END:
            negated = False
            continue
        words.append("not_" + token if negated else token)
        negated = negated or bool(_NEGATION.fullmatch(token))
    return " ".join(words)


def onnx_feed(texts: list[str]) -> dict[str, Any]:
    """The exported graph's input for ``texts``: an ``(n, 1)`` string tensor, prepared."""
    import numpy as np

    return {ONNX_INPUT: np.array([[prepare(t)] for t in texts], dtype=object)}


def load_dataset(path: Path = DATA_PATH) -> tuple[list[str], list[str]]:
    """Texts and labels of a CSV with columns ``text`` and ``label``."""
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    unknown = {row["label"] for row in rows} - set(LABELS)
    if unknown:
        raise ValueError(f"{path}: unknown labels {sorted(unknown)}; expected {LABELS}")
    return [row["text"] for row in rows], [row["label"] for row in rows]


def split(
    texts: list[str],
    labels: list[str],
) -> tuple[list[str], list[str], list[str], list[str]]:
    """``(train_texts, held_out_texts, train_labels, held_out_labels)``, the same every run."""
    from sklearn.model_selection import train_test_split

    parts: list[list[str]] = train_test_split(
        texts,
        labels,
        test_size=HELD_OUT_FRACTION,
        random_state=SEED,
        stratify=labels,
    )
    return parts[0], parts[1], parts[2], parts[3]


def fit(texts: list[str], labels: list[str], c: float = 10.0) -> Any:
    """A fitted scikit-learn pipeline from raw texts to labels."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    # No sublinear_tf: skl2onnx silently exports it as plain tf (measured), and it did not help.
    pipeline = make_pipeline(
        TfidfVectorizer(token_pattern=_SPACE_SEPARATED, lowercase=False),
        LogisticRegression(C=c, max_iter=1000),
    )
    return pipeline.fit([prepare(t) for t in texts], labels)


def to_onnx(pipeline: Any) -> bytes:
    """The pipeline as an ONNX graph: ``text`` in; ``label`` and ``probabilities`` out."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import StringTensorType

    classifier = pipeline.steps[-1][1]
    graph = convert_sklearn(
        pipeline,
        initial_types=[(ONNX_INPUT, StringTensorType([None, 1]))],
        options={id(classifier): {"zipmap": False}},  # a plain probability matrix, not dicts
    )
    return bytes(graph.SerializeToString())


def check_export(model: bytes, pipeline: Any, texts: list[str]) -> float:
    """Raise unless ONNX Runtime reproduces scikit-learn's probabilities on ``texts``; return
    the largest difference. A converter that silently drops an option fails here, not later."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    _, onnx_probabilities = session.run(None, onnx_feed(texts))
    expected = pipeline.predict_proba([prepare(t) for t in texts])
    drift = float(np.abs(onnx_probabilities - expected).max())
    if drift > _MAX_EXPORT_DRIFT:
        raise RuntimeError(f"ONNX export differs from scikit-learn by {drift:.2g}")
    return drift


def write_atomically(data: bytes, path: Path) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it owner-only; a model is no secret
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)  # atomic within one file system, hence the same folder
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


def train(path: Path, data_path: Path = DATA_PATH, c: float = 10.0) -> float:
    """Train on the training split, export to ``path``; return held-out accuracy. ``c`` is
    the inverse regularization strength (another ``c`` makes another version)."""
    texts, labels = load_dataset(data_path)
    train_texts, held_out_texts, train_labels, held_out_labels = split(texts, labels)
    pipeline = fit(train_texts, train_labels, c)
    model = to_onnx(pipeline)
    check_export(model, pipeline, held_out_texts)
    write_atomically(model, path)
    return float(pipeline.score([prepare(t) for t in held_out_texts], held_out_labels))


def ensure_model(path: Path | None = None) -> Path:
    """The model file, trained and exported first if it does not exist yet.

    Workers starting together may each train; training is deterministic and the write is
    atomic, so the last to finish replaces an equivalent model and nobody reads half a file.
    """
    path = path or model_path()
    if not path.is_file():
        train(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=model_path(), help="ONNX file to write")
    parser.add_argument("--c", type=float, default=10.0, help="inverse regularization strength")
    args = parser.parse_args()
    accuracy = train(args.output, c=args.c)
    print(f"held-out accuracy: {accuracy:.3f}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

"""Sentiment: labels each text positive or negative, with the probability of that label.

A TF-IDF + logistic regression model that ``train.py`` fits on the hand-written reviews in
``data/reviews.csv`` and exports to ONNX. When ``artifacts/sentiment.onnx`` (or
``$SENTIMENT_MODEL_PATH``) is missing, the first start trains it, in a few seconds. Served
from the model registry, each version loads its own registered ``sentiment.onnx``.
"""

from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, Field, StringConstraints

import scaleserve

Review = Annotated[str, StringConstraints(min_length=1, max_length=5000)]
Label = Literal["positive", "negative"]
MODEL_FILE = "sentiment.onnx"


class Prediction(BaseModel):
    """The more likely label and its probability (always at least 0.5)."""

    label: Label
    score: Annotated[float, Field(ge=0.0, le=1.0)]


class Sentiment(scaleserve.Model):
    """Classifies the sentiment of short English texts such as reviews."""

    name = "sentiment"
    max_batch_size = 64
    max_wait_ms = 2  # a full batch runs in ~3 ms on two cores: waiting longer would cost more
    example_input = "Not bad at all, I would happily watch it again."
    agreement = "field:label"  # a new version agrees with the old when it picks the same label

    def load(self) -> None:
        # scaleserve puts this folder on sys.path; train imports scikit-learn only to train.
        from train import ensure_model, onnx_feed

        self._onnx_feed = onnx_feed
        # A sparse linear model over strings gains nothing from a GPU, and ONNX Runtime runs
        # its string operators on the CPU anyway.
        # Served from the registry, the version's own file; else the one trained here.
        path = self.artifact_dir / MODEL_FILE if self.artifact_dir else ensure_model()
        self._session: Any = scaleserve.onnx_session(str(path), prefer_gpu=False)

    def predict(self, batch: list[Review]) -> list[Prediction]:
        labels, probabilities = self._session.run(None, self._onnx_feed(batch))
        return [
            Prediction(label=cast(Label, str(label)), score=float(max(row)))
            for label, row in zip(labels, probabilities, strict=True)
        ]

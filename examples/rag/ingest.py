"""Ingest documents into a tenant's ``docs`` collection: chunked by paragraph, embedded
by the served ``embeddings`` model (the collection's own), stored with their title.

    python examples/rag/ingest.py --key $KEY examples/rag/docs/*.md
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

COLLECTION = "docs"
MAX_CHUNK_CHARS = 600
BATCH = 64


def chunks(text: str) -> Iterator[str]:
    """Paragraphs, joined while they fit in ``MAX_CHUNK_CHARS``."""
    current = ""
    for raw in re.split(r"\n\s*\n", text.strip()):
        paragraph = " ".join(raw.split())
        if current and len(current) + len(paragraph) > MAX_CHUNK_CHARS:
            yield current
            current = ""
        current = f"{current} {paragraph}".strip()
    if current:
        yield current


def points(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    title = next((line.lstrip("# ") for line in text.splitlines() if line.strip()), path.stem)
    return [
        {"id": f"{path.stem}-{n}", "text": chunk,
         "payload": {"title": title, "chunk": n, "lang": "en", "source": path.name}}
        for n, chunk in enumerate(chunks(text))
    ]  # fmt: skip


def ingest(url: str, key: str | None, files: list[Path]) -> int:
    """Create the collection if needed and upsert every file's chunks; how many."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        made = http.post("/v1/collections", json={"name": COLLECTION, "model": "embeddings"})
        if made.status_code not in (201, 409):
            made.raise_for_status()
        every = [p for path in files for p in points(path)]
        for start in range(0, len(every), BATCH):
            batch = every[start : start + BATCH]
            http.put(
                f"/v1/collections/{COLLECTION}/points", json={"points": batch}
            ).raise_for_status()
    return len(every)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", default=None, help="the tenant's API key")
    args = parser.parse_args()
    print(f"ingested {ingest(args.url, args.key, args.files)} chunks into {COLLECTION!r}")


if __name__ == "__main__":
    main()

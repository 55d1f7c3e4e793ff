"""The Open Inference Protocol v2 routes, driven by the real ``tritonclient[http]`` against
real services: the echo, embeddings and sentiment examples and the fixture models."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
import tritonclient.http.aio as triton_aio
from tritonclient.utils import InferenceServerException

from scaleserve.testing import Service

TEXTS = ["A cat sits on the mat.", "Stock markets fell sharply today.", "naïve café 日本語"]


def client(service: Service) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(service.base_url.removeprefix("http://"))


def text_input(texts: list[str], binary: bool = True, name: str = "input") -> triton.InferInput:
    tensor = triton.InferInput(name, [len(texts)], "BYTES")
    tensor.set_data_from_numpy(np.array(texts, dtype=object), binary_data=binary)
    return tensor


def refused(call: object) -> tuple[int, str]:
    """The status and message of the ``InferenceServerException`` that ``call()`` raises."""
    with pytest.raises(InferenceServerException) as caught:
        call()  # type: ignore[operator]
    return int(caught.value.status()), str(caught.value.message())


def test_health_readiness_and_server_metadata(echo_service: Service) -> None:
    triton_client = client(echo_service)
    assert triton_client.is_server_live()
    assert triton_client.is_server_ready()
    assert triton_client.is_model_ready("echo")
    assert triton_client.is_model_ready("echo", "1")
    assert not triton_client.is_model_ready("echo", "2")
    assert not triton_client.is_model_ready("nope")
    metadata = triton_client.get_server_metadata()
    assert metadata["name"] == "scaleserve" and "binary_tensor_data" in metadata["extensions"]


def test_echo_metadata_and_text_both_ways(echo_service: Service) -> None:
    triton_client = client(echo_service)
    metadata = triton_client.get_model_metadata("echo", "1")
    assert metadata == {
        "name": "echo",
        "versions": ["1"],
        "platform": "scaleserve",
        "inputs": [{"name": "input", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [{"name": "output", "datatype": "BYTES", "shape": [-1]}],
    }
    binary = triton_client.infer("echo", [text_input(TEXTS)], request_id="42")
    assert binary.get_response()["id"] == "42"
    assert [b.decode() for b in binary.as_numpy("output")] == TEXTS
    as_json = triton_client.infer(
        "echo",
        [text_input(TEXTS, binary=False)],
        outputs=[triton.InferRequestedOutput("output", binary_data=False)],
    )
    assert as_json.get_response()["outputs"][0]["data"] == TEXTS
    assert list(as_json.as_numpy("output")) == TEXTS


def test_embeddings_match_the_native_api(embeddings_service: Service) -> None:
    triton_client = client(embeddings_service)
    metadata = triton_client.get_model_metadata("embeddings")
    assert metadata["versions"] == ["all-minilm-l6-v2"]
    assert metadata["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [-1, 384]}]
    result = triton_client.infer("embeddings", [text_input(TEXTS)])
    vectors = result.as_numpy("output")
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    native = httpx.post(
        embeddings_service.base_url + "/v1/models/embeddings/predict",
        json={"inputs": TEXTS},
        timeout=60,
    ).json()["outputs"]
    np.testing.assert_allclose(vectors, np.array(native, dtype=np.float32), atol=1e-6)
    # An empty text breaks the model's constraint: a 400 naming the item.
    status, message = refused(lambda: triton_client.infer("embeddings", [text_input(["ok", ""])]))
    assert status == 400 and "item 1" in message


def test_sentiment_outputs_a_tensor_per_field(sentiment_service: Service) -> None:
    triton_client = client(sentiment_service)
    metadata = triton_client.get_model_metadata("sentiment")
    assert metadata["outputs"] == [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "score", "datatype": "FP32", "shape": [-1]},
    ]
    texts = ["I absolutely loved this movie.", "Terrible quality, it broke after two days."]
    result = triton_client.infer("sentiment", [text_input(texts)])
    assert [b.decode() for b in result.as_numpy("label")] == ["positive", "negative"]
    scores = result.as_numpy("score")
    assert scores.dtype == np.float32 and all(0.5 <= s <= 1 for s in scores)
    only_label = triton_client.infer(
        "sentiment", [text_input(texts)], outputs=[triton.InferRequestedOutput("label")]
    )
    assert [o["name"] for o in only_label.get_response()["outputs"]] == ["label"]


def test_record_inputs_numeric_tensors_and_errors(service: Service) -> None:
    triton_client = client(service)
    metadata = triton_client.get_model_metadata("probe")
    assert metadata["inputs"][:3] == [
        {"name": "value", "datatype": "INT64", "shape": [-1]},
        {"name": "sleep_ms", "datatype": "FP32", "shape": [-1]},
        {"name": "fail", "datatype": "BOOL", "shape": [-1]},
    ]
    value = triton.InferInput("value", [3, 1], "INT64")  # [N, 1] is accepted as well as [N]
    value.set_data_from_numpy(np.array([[5], [6], [7]], dtype=np.int64))
    result = triton_client.infer("probe", [value])
    assert list(result.as_numpy("value")) == [5, 6, 7]
    assert result.as_numpy("value").dtype == np.int64

    fail = triton.InferInput("fail", [3], "BOOL")
    fail.set_data_from_numpy(np.array([False, True, False]))
    status, message = refused(lambda: triton_client.infer("probe", [value, fail]))
    assert status == 500 and "asked to fail" in message

    doubled = triton.InferInput("input", [2], "FP32")
    doubled.set_data_from_numpy(np.array([1.5, -2], dtype=np.float32))
    result = triton_client.infer("double", [doubled])
    assert list(result.as_numpy("output")) == [3.0, -4.0]

    status, message = refused(lambda: triton_client.infer("probe", [text_input(["x"])]))
    assert status == 400 and "unknown input 'input'" in message
    wrong = text_input(["x"], name="value")
    status, message = refused(lambda: triton_client.infer("probe", [wrong]))
    assert status == 400 and "item 0" in message
    status, message = refused(lambda: triton_client.infer("nope", [value]))
    assert status == 404 and "nope" in message
    status, message = refused(lambda: triton_client.infer("probe", [value], model_version="9"))
    assert status == 404 and "version" in message
    status, message = refused(
        lambda: triton_client.infer(
            "probe", [value], outputs=[triton.InferRequestedOutput("nothing")]
        )
    )
    assert status == 400 and "unknown output" in message


async def test_concurrent_inferences_are_batched_like_native_ones(service: Service) -> None:
    async def one(triton_client: triton_aio.InferenceServerClient, number: int) -> int:
        value = triton_aio.InferInput("value", [1], "INT64")
        value.set_data_from_numpy(np.array([number], dtype=np.int64))
        sleep = triton_aio.InferInput("sleep_ms", [1], "FP32")
        sleep.set_data_from_numpy(np.array([30], dtype=np.float32))
        result = await triton_client.infer("probe", [value, sleep])
        assert result.as_numpy("value")[0] == number
        return int(result.as_numpy("batch_size")[0])

    triton_client = triton_aio.InferenceServerClient(service.base_url.removeprefix("http://"))
    try:
        sizes = await asyncio.gather(*(one(triton_client, n) for n in range(32)))
    finally:
        await triton_client.close()
    assert max(sizes) > 1, f"32 concurrent inferences never shared a batch: {sizes}"


@pytest.mark.parametrize(
    ("head", "raw", "fragment"),
    [
        (b'{"inputs": [', None, "not valid JSON"),
        (b'{"inputs": []}', None, "inputs"),
        (
            b'{"inputs": [{"name": "input", "shape": [2], "datatype": "BYTES", "data": ["a"]}]}',
            None,
            "1 elements",
        ),
        (
            b'{"inputs": [{"name": "input", "shape": [], "datatype": "BYTES", "data": "a"}]}',
            None,
            "first dimension",
        ),
        (
            b'{"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES",'
            b' "parameters": {"binary_data_size": 100}}]}',
            b"\x01\x00\x00\x00a",
            "past the body",
        ),
        (
            b'{"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES",'
            b' "parameters": {"binary_data_size": 5}}]}',
            b"\x09\x00\x00\x00a",
            "runs past the data",
        ),
        (
            b'{"inputs": [{"name": "input", "shape": [1], "datatype": "BF16",'
            b' "parameters": {"binary_data_size": 2}}]}',
            b"xx",
            "not supported",
        ),
        (
            b'{"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}',
            b"extra",
            "belong to no input",
        ),
    ],
)
def test_bad_requests_get_the_protocol_error_shape(
    echo_service: Service, head: bytes, raw: bytes | None, fragment: str
) -> None:
    headers = {} if raw is None else {"inference-header-content-length": str(len(head))}
    response = httpx.post(
        echo_service.base_url + "/v2/models/echo/infer",
        content=head + (raw or b""),
        headers=headers,
    )
    assert response.status_code == 400, response.text
    assert list(response.json()) == ["error"] and fragment in response.json()["error"]


def test_routes_are_in_the_openapi_document(echo_service: Service) -> None:
    paths = httpx.get(echo_service.base_url + "/openapi.json").json()["paths"]
    for path in ("/v2", "/v2/health/ready", "/v2/models/{name}/infer"):
        assert path in paths
    assert "/v2/models/{name}/versions/{version}/infer" in paths

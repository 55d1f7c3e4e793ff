"""A Dask dataframe scored through a deployment's workers, on a real local Dask cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from scaleserve.batch.dask_frames import predict_partitions
from scaleserve.testing import Service, running_service
from tests.batch.conftest import BATCH_APP, rows

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def deployment() -> Iterator[Service]:
    with running_service(BATCH_APP, auth=True) as service:
        yield service


def test_every_partition_is_scored_by_the_deployment(deployment: Service) -> None:
    data = pd.DataFrame(rows(600))
    frame = dd.from_pandas(data, npartitions=4)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        scored = predict_partitions(
            frame[["x", "label"]], "scorer", deployment.base_url, api_key=deployment.api_key
        )
        result = client.compute(scored).result()
    assert list(result.index) == list(data.index)  # every row, in order
    ok = result[result["error"].isna()]
    assert list(ok["output"]) == [
        {"double": 2 * x, "label": lbl} for x, lbl in zip(ok["x"], ok["label"], strict=True)
    ]
    failed = result[result["error"].notna()]
    assert list(failed["x"]) == [13] * 12
    assert all("13 is unlucky" in error for error in failed["error"])


def test_a_column_may_be_the_input(deployment: Service) -> None:
    frame = dd.from_pandas(pd.DataFrame({"text": ["a", "bb", "ccc"]}), npartitions=2)
    scored = predict_partitions(
        frame, "lengths", deployment.base_url, column="text", api_key=deployment.api_key
    ).compute(scheduler="sync")
    assert list(scored["output"]) == [1, 2, 3]
    assert scored["error"].isna().all()

"""``/metrics``: this process's Prometheus metrics in the text exposition format (see pump_service/metrics.py).

Outside the OpenAPI schema and the problem+json error path: a scraper reads plain text. It needs
no sign-in, as ``/health`` does not, and says nothing about patients (labels are fixed vocabularies).
"""

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from pump_service.metrics import REGISTRY, install_refill_counter

__all__ = ["install_metrics", "router"]

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def read_metrics() -> Response:
    # Format 0.0.4: what every Prometheus server and agent reads.
    return Response(content=generate_latest(REGISTRY), media_type=CONTENT_TYPE_PLAIN_0_0_4)


def install_metrics(app: FastAPI) -> None:
    """Serve ``/metrics`` on ``app`` and count this process's committed refills."""
    install_refill_counter()
    app.include_router(router)

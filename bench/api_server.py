"""The service under uvicorn for the API benchmark, in a process of its own (``python -m bench.api_server``).

The harness adds one route the product does not have, ``GET /bench-floor``: it touches no
database, so the same clients on it measure the framework's floor (HTTP, routing, JSON, uvicorn).
A process of its own, so the server's peak memory can be read and clients do not share its GIL.
"""

import argparse

import uvicorn
from fastapi import FastAPI

from pump_service.api.app import create_app
from pump_service.settings import Settings

__all__ = ["FLOOR_PATH", "bench_app", "main"]

FLOOR_PATH = "/bench-floor"


def bench_app(settings: Settings) -> FastAPI:
    """The service's app for ``settings`` plus the floor route."""
    app = create_app(settings)

    @app.get(FLOOR_PATH, include_in_schema=False)
    def read_floor() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api_server", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--station-id", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings(database_url=args.database_url, station_id=args.station_id)
    uvicorn.run(bench_app(settings), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

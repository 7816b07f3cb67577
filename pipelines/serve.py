"""`recsys serve`: run the recommendation service under uvicorn."""

from __future__ import annotations

import argparse
import os

from recsys.config import Settings
from recsys.service.metrics_files import fresh_directory

#: Seconds a worker may go without answering uvicorn's health check before it is restarted.
DEFAULT_WORKER_TIMEOUT = 60


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the recommendation service (uvicorn)")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes; they share one copy of the model (memory-mapped) and /metrics "
        "adds all of them up (default: 1)",
    )
    parser.add_argument(
        "--worker-timeout",
        type=_positive_seconds,
        default=DEFAULT_WORKER_TIMEOUT,
        metavar="SECONDS",
        help="with several workers, restart a worker that does not answer uvicorn's health check "
        f"for this long (default: {DEFAULT_WORKER_TIMEOUT}; uvicorn's own 5 s kills workers that "
        "are still starting or loading a large model on a busy machine)",
    )
    parser.set_defaults(handler=run)


def _positive_seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of seconds >= 1; got {text!r}")
    return value


def run(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    # one BLAS thread per process, in the workers too (they inherit the environment)
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    settings.pseudonym_key_bytes()  # refuse to start without a usable key, with its message
    settings.api_key_scopes()
    # the workers add their metrics up in files of a fresh directory, removed when serving stops
    with fresh_directory():
        # access logs would print request paths, and per-reader paths hold reader ids
        uvicorn.run(
            "recsys.service.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers if args.workers > 1 else None,
            timeout_worker_healthcheck=args.worker_timeout,
            access_log=False,
            log_level="info",
        )
    return 0

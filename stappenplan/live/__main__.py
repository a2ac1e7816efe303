"""``python -m stappenplan.live``: the stream service under uvicorn (docs/deployment.md)."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from .service import LiveService, Settings


class _Server(uvicorn.Server):
    """uvicorn waits for open connections before the app hears of the shutdown: the
    streams are told first, so a SIGTERM ends them at once (each page reconnects with
    jitter) instead of waiting out the graceful timeout."""

    def __init__(self, config: uvicorn.Config, service: LiveService) -> None:
        super().__init__(config)
        self.service = service

    async def shutdown(self, sockets: list | None = None) -> None:
        self.service.hub.close_all()
        await super().shutdown(sockets=sockets)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stappenplan.live", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("LIVE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("LIVE_PORT", "8001")))
    parser.add_argument("--backlog", type=int, default=4096)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    service = LiveService(Settings.from_env())
    config = uvicorn.Config(service, host=args.host, port=args.port, lifespan="on", access_log=False,
                            backlog=args.backlog, timeout_graceful_shutdown=5, log_level="warning",
                            proxy_headers=False, server_header=False)
    _Server(config, service).run()


if __name__ == "__main__":
    main()

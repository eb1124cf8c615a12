"""``mmedrag serve``: the HTTP API and the web page (see :mod:`mmedrag.serve`)."""

from __future__ import annotations

import argparse

from mmedrag.cli.base import Command
from mmedrag.cli.pipeline_args import add_pipeline_arguments, pipeline_values


class ServeCommand(Command):
    name = "serve"
    help = "serve the pipeline over HTTP: a JSON API, an OpenAI-compatible route and a web page"
    description = """Load the pipeline once and serve it: POST /v1/ask, /v1/search, /v1/chat/completions (OpenAI
compatible), GET /v1/cases/{id}, /metrics, /healthz, /readyz, and a web page at /. Concurrent questions are
batched. Bound to loopback (the default) it may run without keys; any other --host needs API keys
(MMEDRAG_API_KEYS=id:secret,... or --api-key-file). POST /v1/admin/reload (admin key) or SIGHUP switches to the
index's newest saved version; SIGTERM finishes open requests before exit. Logs are JSON lines on stderr.

examples:
  mmedrag serve --demo                                   # the demo's MedPix knowledge base (built on first use)
  mmedrag serve --index idx/medpix --port 8000
  MMEDRAG_API_KEYS=team:$(openssl rand -hex 16) mmedrag serve --config pipeline.yaml --host 0.0.0.0"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_pipeline_arguments(parser, guard_flag=False)
        source = parser.add_argument_group("demo")
        source.add_argument("--demo", action="store_true", help="serve the demo's knowledge base (built on first use)")
        source.add_argument("--data", help="with --demo: folder with medpix2/ and vqa_rad/ (default $MMEDRAG_DATA)")
        net = parser.add_argument_group("network and security")
        net.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, loopback)")
        net.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
        net.add_argument("--workers", type=int, default=1, help="worker processes, each with its own pipeline")
        net.add_argument("--api-key-file", help="file of id:secret lines (adds to MMEDRAG_API_KEYS)")
        net.add_argument("--admin-key-file", help="file of id:secret admin keys (adds to MMEDRAG_ADMIN_KEYS)")
        net.add_argument("--rate-limit", type=int, default=600, help="requests per minute per key; 0 = off")
        net.add_argument(
            "--header-timeout-s", type=float, default=10.0, help="408 after this long sending headers; 0 = no limit"
        )
        net.add_argument(
            "--body-timeout-s", type=float, default=60.0, help="408 after this long sending a body; 0 = no limit"
        )
        net.add_argument(
            "--max-connections-per-address",
            type=int,
            default=128,
            help="open connections per client address, 503 past it; 0 = no cap (raise it behind a proxy)",
        )
        net.add_argument("--cors-origin", action="append", default=[], help="allow this origin (default: CORS off)")
        limits = parser.add_argument_group("limits, batching, records")
        limits.add_argument("--max-body-mb", type=float, default=20.0, help="largest request body (default 20 MB)")
        limits.add_argument("--max-pixels", type=int, default=40_000_000, help="largest image (default 40 MP)")
        limits.add_argument(
            "--decode-budget-mb",
            type=int,
            default=512,
            help="memory concurrent image decodes may share; more uploads wait (default 512 MB)",
        )
        limits.add_argument("--max-batch-size", type=int, default=16, help="queries per pipeline call; 1 = off")
        limits.add_argument("--max-wait-ms", type=float, default=5.0, help="longest wait for a batch to fill")
        limits.add_argument("--max-queue", type=int, default=256, help="queries waiting; past it 503 + Retry-After")
        limits.add_argument("--keep-uploads", help="keep uploaded images in this folder (default: never stored)")
        limits.add_argument("--audit-log", help="append one JSON line per API request to this file")
        limits.add_argument("--audit-questions", action="store_true", help="log question text, not only its hash")
        limits.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.serve.runner import ServeOptions, serve

        options = ServeOptions(
            config=args.config,
            overrides=list(args.set),
            values=pipeline_values(args),
            api_key_file=args.api_key_file,
            admin_key_file=args.admin_key_file,
            demo=args.demo,
            demo_data=args.data,
            settings={
                "host": args.host,
                "rate_limit_per_minute": args.rate_limit,
                "max_body_bytes": int(args.max_body_mb * 1024 * 1024),
                "max_pixels": args.max_pixels,
                "decode_budget_mb": args.decode_budget_mb,
                "max_batch_size": args.max_batch_size,
                "max_wait_ms": args.max_wait_ms,
                "max_queue": args.max_queue,
                "keep_uploads": args.keep_uploads,
                "audit_log": args.audit_log,
                "audit_questions": args.audit_questions,
                "cors_origins": list(args.cors_origin),
                "header_timeout_s": args.header_timeout_s,
                "body_timeout_s": args.body_timeout_s,
                "max_connections_per_address": args.max_connections_per_address,
            },
        )
        serve(options, port=args.port, workers=max(1, args.workers), log_level=args.log_level)
        return 0

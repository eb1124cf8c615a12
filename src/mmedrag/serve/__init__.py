"""``mmedrag serve``: an HTTP API (FastAPI) and a web page over the RAG pipeline (extra ``serve``).

Build the application with :func:`mmedrag.serve.app.create_app`; the command line wires it to uvicorn.
"""

from __future__ import annotations

from mmedrag._optional import require

# Every module of the service builds on FastAPI: fail at once, with the install line, when the extra is missing.
require("fastapi", "serve")

"""`melt-study`: serve the study app, add reviewers, export answers and decisions.

Defaults come from the `study` section of params.yaml (when there is one in the working directory) and can
be overridden by flags: `melt-study serve --db PATH --host 127.0.0.1 --port 8765`.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
from pathlib import Path

from melt.study.params import StudyParams

REVIEWER_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,40}")


def _study_params(path: str) -> StudyParams:
    from melt.config import ParamsError, load_params

    if not Path(path).is_file():
        return StudyParams()
    try:
        return load_params(path).study
    except ParamsError as err:
        raise SystemExit(f"error: {err}") from None


def _db_path(args, params: StudyParams) -> Path:
    from melt.repo import shared_path

    # A --db given on the command line is taken as is; the params default lives under the repository root.
    return Path(args.db) if args.db else shared_path(params.db, "study/melt-study.db")


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn (port 0: any free port, known before serving). IPPROTO_TCP is given
    explicitly: asyncio sets TCP_NODELAY on accepted connections only for such sockets, and without it every
    keep-alive response waits ~40 ms for a delayed ACK."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _serve(args, params: StudyParams) -> int:
    import uvicorn

    from melt.study.api import Settings
    from melt.study.app import create_app
    from melt.study.catalog import CatalogError, load_catalog
    from melt.study.store import StudyStore

    db = _db_path(args, params)
    try:
        store = StudyStore(db)
        catalog = load_catalog(args.study_dir, args.root, store.secret)
    except CatalogError as err:
        raise SystemExit(f"error: {err}") from None
    settings = Settings.from_params(params, questions=args.questions, attention=args.attention)
    app = create_app(store, catalog, settings)
    host = args.host or params.host
    port = params.port if args.port is None else args.port
    sock = listening_socket(host, port)
    bound = sock.getsockname()[1]
    if host not in ("127.0.0.1", "::1", "localhost"):
        print(f"melt-study: warning: listening on {host}, reachable from other machines; serve it behind a TLS "
              "reverse proxy", file=sys.stderr)
    print(f"melt-study: {len(catalog.preference)} preference items, {len(catalog.attention)} attention checks, "
          f"{len(catalog.queue)} in the review queue; database {db}", flush=True)
    print(f"melt-study: serving on http://{host}:{bound}/ (review: /review)", flush=True)
    # Idle connections stay open a minute: a participant listens and thinks between two requests.
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, access_log=args.access_log,
                                           timeout_keep_alive=60))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:   # uvicorn re-raises Ctrl-C after its graceful shutdown
        pass
    print("melt-study: stopped", flush=True)
    return 0


def _reviewer(args, params: StudyParams) -> int:
    from melt.study.store import StudyStore

    if not REVIEWER_NAME.fullmatch(args.name):
        raise SystemExit("error: reviewer name: 1–40 letters, digits or . _ @ -")
    token = StudyStore(_db_path(args, params)).add_reviewer(args.name)
    print(f"reviewer {args.name}: token (shown once; a new `reviewer add` replaces it):", file=sys.stderr)
    print(token)
    return 0


def _export(args, params: StudyParams) -> int:
    from melt.io import write_text
    from melt.study.exports import answers_export, decisions_export
    from melt.study.store import StudyStore

    store = StudyStore(_db_path(args, params), create=False)
    payload = (answers_export if args.what == "answers" else decisions_export)(store, args.format)
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    if args.output:
        write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="melt-study", description=__doc__.split("\n")[0])
    parser.add_argument("--params", default="params.yaml", help="params file with a `study` section")
    parser.add_argument("--db", help="SQLite database (default: study.db of the params, under the repository root)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the app (preference test at /, review at /review)")
    serve.add_argument("--db", default=argparse.SUPPRESS, help="SQLite database")
    serve.add_argument("--host", help="address to bind (default: study.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: study.port; 0 = any free port)")
    serve.add_argument("--study-dir", default="data/study", help="folder with items.csv and review_queue.csv")
    serve.add_argument("--root", default=".", help="folder that relative media paths start from")
    serve.add_argument("--questions", type=int, help="disagreement questions per participant")
    serve.add_argument("--attention", type=int, help="attention checks per participant")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--no-access-log", dest="access_log", action="store_false")

    reviewer = sub.add_parser("reviewer", help="reviewer accounts")
    reviewer.add_argument("action", choices=["add"])
    reviewer.add_argument("name")
    reviewer.add_argument("--db", default=argparse.SUPPRESS, help="SQLite database")

    export = sub.add_parser("export", help="answers or review decisions as JSON, CSV, Argilla or Label Studio")
    export.add_argument("what", choices=["answers", "decisions"])
    export.add_argument("--format", choices=["json", "csv", "argilla", "label-studio"], default="json")
    export.add_argument("-o", "--output", help="file to write (default: stdout)")
    export.add_argument("--db", default=argparse.SUPPRESS, help="SQLite database")

    args = parser.parse_args(argv)
    params = _study_params(args.params)
    from melt.study.store import StoreError

    try:
        return {"serve": _serve, "reviewer": _reviewer, "export": _export}[args.command](args, params)
    except StoreError as err:   # e.g. a database of another schema: the message names it
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    raise SystemExit(main())

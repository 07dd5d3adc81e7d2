"""The study app: the JSON API, three server-rendered pages (consent, questions, review) and their static JS/CSS."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from melt.study.api import Settings, build_router, store_error_handler
from melt.study.catalog import Catalog
from melt.study.security import MAX_BODY_BYTES, Guard
from melt.study.store import StoreError, StudyStore

HERE = Path(__file__).parent
PAGES = {"/": "consent.html", "/study": "study.html", "/review": "review.html"}


def create_app(store: StudyStore, catalog: Catalog, settings: Settings, max_body: int = MAX_BODY_BYTES):
    """The ASGI app (FastAPI wrapped in the body-limit and security-header middleware)."""
    app = FastAPI(title="MELT human studies", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.include_router(build_router(store, catalog, settings))
    app.add_exception_handler(StoreError, store_error_handler)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
    questions = (min(settings.questions_per_participant, len(catalog.preference))
                 + min(settings.attention_per_participant, len(catalog.attention)))

    def page(template: str):
        def render(request: Request) -> HTMLResponse:
            return HTMLResponse(env.get_template(template).render(questions=questions,
                                                                  min_play_share=settings.min_play_share))
        return render

    for path, template in PAGES.items():
        app.add_api_route(path, page(template), methods=["GET"], response_class=HTMLResponse,
                          include_in_schema=False)
    app.add_api_route("/favicon.ico", lambda: Response(status_code=204), methods=["GET"], include_in_schema=False)
    return Guard(app, max_body=max_body)

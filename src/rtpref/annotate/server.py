"""The annotation web app (Starlette): serves the page, one pair at a time, and stores answers.

The browser measures the response time (``performance.now()`` from the frame in which both
items are drawn to the click or key press) because a server-side clock would add the network
and rendering delays to every time. The server decides everything else: which pair comes next,
where each item is shown, and which item the chosen side means.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .items import Items
from .pairs import Pair, annotator_rng
from .storage import AnswerStore, now_iso

STATIC = Path(__file__).with_name("static")
MAX_BODY_BYTES = 4096
# Pairs handed out and not answered (reloads, closed tabs); the oldest are forgotten beyond this.
MAX_PENDING_TOKENS = 10_000
ANNOTATOR_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
# No inline script or style, no other origin: even a caption that slipped into the page as
# markup could not run code.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; connect-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SessionRequest(_Body):
    annotator: Annotated[str, Field(pattern=ANNOTATOR_PATTERN)]


class NextRequest(_Body):
    session: Annotated[str, Field(min_length=1, max_length=64)]


class AnswerRequest(_Body):
    session: Annotated[str, Field(min_length=1, max_length=64)]
    token: Annotated[str, Field(min_length=1, max_length=64)]
    side: Literal["left", "right"]
    # Milliseconds from performance.now(); a day bounds it so a broken clock is refused.
    response_time_ms: Annotated[float, Field(gt=0, lt=86_400_000, allow_inf_nan=False)]
    page_hidden: bool
    input: Literal["click", "key"]


@dataclass
class Session:
    session_id: str
    annotator: str
    resumed: bool  # the annotator had answers before this session started
    answers: int = 0


@dataclass
class Shown:
    """A pair handed to a session, waiting for its answer."""

    session_id: str
    annotator: str
    pair_index: int
    served_at: str


@dataclass
class Annotation:
    """Everything one server holds: items, the plan, answers on disk, live sessions."""

    items: Items
    plan: list[Pair]
    store: AnswerStore
    seed: int
    break_seconds: float
    sessions: dict[str, Session] = field(default_factory=dict)
    shown: dict[str, Shown] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.index = self.items.index_of()
        self._orders: dict[str, tuple[list[int], list[bool]]] = {}
        for number, record in enumerate(self.store.records, start=1):
            position = record["pair_index"]
            if not (0 <= position < len(self.plan)
                    and self.plan[position] == (record["item_1"], record["item_2"])):
                raise ValueError(
                    f"{self.store.journal}: answer {number} ({record['item_1']!r} vs "
                    f"{record['item_2']!r}) is not pair {position} of this plan; resume with the "
                    f"same items, pairs and --seed, or write to another --out")

    def order(self, annotator: str) -> tuple[list[int], list[bool]]:
        """The annotator's order of the plan and, per plan position, whether item_1 is left."""
        if annotator not in self._orders:
            rng = annotator_rng(self.seed, annotator)
            order = rng.permutation(len(self.plan)).tolist()
            item_1_on_left = (rng.random(len(self.plan)) < 0.5).tolist()
            self._orders[annotator] = (order, item_1_on_left)
        return self._orders[annotator]

    def answered(self, annotator: str) -> set[int]:
        """Plan positions this annotator has answered (read from the stored answers)."""
        return {record["pair_index"] for record in self.store.records
                if record["user_id"] == annotator}

    def _last_answer_time(self, annotator: str) -> datetime | None:
        times = [record["answered_at"] for record in self.store.records
                 if record["user_id"] == annotator]
        return datetime.fromisoformat(times[-1]) if times else None

    def start_session(self, annotator: str) -> Session:
        session = Session(secrets.token_urlsafe(16), annotator,
                          resumed=bool(self.answered(annotator)))
        self.sessions[session.session_id] = session
        return session

    def next_pair(self, session: Session) -> dict[str, Any]:
        order, item_1_on_left = self.order(session.annotator)
        done = self.answered(session.annotator)
        remaining = [position for position in order if position not in done]
        progress = {"answered": len(done), "total": len(self.plan)}
        if not remaining:
            return {"done": True, **progress}
        position = remaining[0]
        token = secrets.token_urlsafe(16)
        if len(self.shown) >= MAX_PENDING_TOKENS:
            del self.shown[next(iter(self.shown))]
        self.shown[token] = Shown(session.session_id, session.annotator, position, now_iso())
        item_1, item_2 = (self.index[item_id] for item_id in self.plan[position])
        left, right = (item_1, item_2) if item_1_on_left[position] else (item_2, item_1)
        return {"done": False, "token": token, "left": self.items.payload(left),
                "right": self.items.payload(right), **progress}

    def locked_record_answer(self, answer: AnswerRequest) -> tuple[int, dict[str, Any]]:
        with self.lock:
            return self.record_answer(answer)

    def record_answer(self, answer: AnswerRequest) -> tuple[int, dict[str, Any]]:
        session = self.sessions.get(answer.session)
        shown = self.shown.get(answer.token)
        if session is None:
            return 404, {"detail": "unknown session; start again"}
        if shown is None or shown.annotator != session.annotator:
            return 404, {"detail": "unknown pair token"}
        if shown.pair_index in self.answered(session.annotator):
            # Another tab (or a retried request) answered this pair already: keep the first.
            return 409, {"detail": "this pair was already answered"}
        item_1, item_2 = self.plan[shown.pair_index]
        item_1_on_left = self.order(session.annotator)[1][shown.pair_index]
        chose_item_1 = (answer.side == "left") == item_1_on_left
        answered_at = now_iso()
        last = self._last_answer_time(session.annotator)
        paused = (last is not None and (datetime.fromisoformat(shown.served_at) - last)
                  .total_seconds() > self.break_seconds)
        after_break = (session.resumed and session.answers == 0) or paused
        self.store.append({
            "item_1": item_1,
            "item_2": item_2,
            "choice": 1 if chose_item_1 else -1,
            "response_time": answer.response_time_ms / 1000.0,
            "user_id": session.annotator,
            "session_id": session.session_id,
            "pair_index": shown.pair_index,
            "item_1_on_left": item_1_on_left,
            "chosen_side": answer.side,
            "input": answer.input,
            "page_hidden": answer.page_hidden,
            "after_break": after_break,
            "flagged": answer.page_hidden or after_break,
            "served_at": shown.served_at,
            "answered_at": answered_at,
        })
        session.answers += 1
        del self.shown[answer.token]
        return 200, {"saved": True, "answered": len(self.answered(session.annotator)),
                     "total": len(self.plan)}


async def _read_body(request: Request, model: type[_Body]) -> _Body | JSONResponse:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return JSONResponse({"detail": "send application/json"}, status_code=415)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"detail": "request body too large"}, status_code=413)
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        problems = [{"field": ".".join(str(part) for part in problem["loc"]),
                     "problem": problem["msg"]} for problem in error.errors()]
        return JSONResponse({"detail": "invalid request", "problems": problems},
                            status_code=422)


def create_app(annotation: Annotation, allowed_hosts: Sequence[str] = ("*",)) -> Starlette:
    """The ASGI app serving ``annotation`` to requests whose Host header is in ``allowed_hosts``.

    Listening on 127.0.0.1, pass ("127.0.0.1", "localhost"): a web page elsewhere that points
    its own host name at 127.0.0.1 (DNS rebinding) is then refused.
    """

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    async def image(request: Request) -> Response:
        index = request.path_params["index"]
        items = annotation.items
        if items.kind != "image" or not 0 <= index < len(items):
            return JSONResponse({"detail": "no such image"}, status_code=404)
        return Response(items.images[index], media_type=items.image_types[index],
                        headers={"Cache-Control": "private, max-age=3600"})

    async def session(request: Request) -> Response:
        body = await _read_body(request, SessionRequest)
        if isinstance(body, JSONResponse):
            return body
        with annotation.lock:
            started = annotation.start_session(body.annotator)
            answered = len(annotation.answered(body.annotator))
        return JSONResponse({"session": started.session_id, "annotator": started.annotator,
                             "answered": answered, "total": len(annotation.plan)})

    async def next_pair(request: Request) -> Response:
        body = await _read_body(request, NextRequest)
        if isinstance(body, JSONResponse):
            return body
        with annotation.lock:
            started = annotation.sessions.get(body.session)
            if started is None:
                return JSONResponse({"detail": "unknown session; start again"}, status_code=404)
            return JSONResponse(annotation.next_pair(started))

    async def answer(request: Request) -> Response:
        body = await _read_body(request, AnswerRequest)
        if isinstance(body, JSONResponse):
            return body
        # fsync and the Parquet rewrite block: run them off the event loop.
        status, payload = await run_in_threadpool(annotation.locked_record_answer, body)
        return JSONResponse(payload, status_code=status)

    return Starlette(routes=[
        Route("/", page),
        Route("/api/session", session, methods=["POST"]),
        Route("/api/next", next_pair, methods=["POST"]),
        Route("/api/answer", answer, methods=["POST"]),
        Route("/api/image/{index:int}", image),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
                   Middleware(SecurityHeaders)])


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)

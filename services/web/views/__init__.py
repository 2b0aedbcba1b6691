"""The pages of the web app. Each module here registers its views with
`route`; services/web/app.py imports every module of this package, so a new
module of views needs no other registration.

A view is `view(page, **url_arguments) -> Response` (services/web/page.py).
Every POST has passed the CSRF and Origin checks before its view runs.
"""
from dataclasses import dataclass
from typing import Any, Callable, Iterable

View = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    path: str           # a werkzeug rule: "/consultations/<id>"
    methods: tuple[str, ...]
    view: View

    @property
    def name(self) -> str:
        return f"{self.view.__module__}.{self.view.__name__}"


ROUTES: list[Route] = []


def route(path: str, methods: Iterable[str] = ("GET",)) -> Callable[[View], View]:
    """Register `view` at `path` for `methods`."""
    def register(view: View) -> View:
        ROUTES.append(Route(path, tuple(methods), view))
        return view
    return register

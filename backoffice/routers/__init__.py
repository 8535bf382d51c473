"""The HTTP routers, one module per area; ``ALL`` is what the app factory includes."""

from backoffice.routers import admin, auth, enrolments, exceptions, ops, privacy, watchlist, web

ALL = [auth.router, admin.router, watchlist.router, exceptions.router, enrolments.router, privacy.router,
       ops.router, web.router]

__all__ = ["ALL"]

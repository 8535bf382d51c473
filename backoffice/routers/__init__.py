"""The HTTP routers, one module per area; ``ALL`` is what the app factory includes."""

from backoffice.routers import (
       admin,
       auth,
       calls,
       enrolments,
       exceptions,
       ops,
       privacy,
       trust,
       watchlist,
       web,
       web_calls,
       web_privacy,
       web_watchlist,
)

ALL = [auth.router, admin.router, watchlist.router, exceptions.router, enrolments.router, privacy.router,
       trust.router, ops.router, web.router, web_watchlist.router, web_privacy.router, calls.router, web_calls.router]

__all__ = ["ALL"]

"""livesync server. App function modules import their building blocks here:

from server import query, mutation, action, v, AppError, define_schema, define_table
from server import internal_query, internal_mutation, internal_action, api, internal
from server import cron_jobs                       # in crons.py
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from protocol.values import Int64
from server.auth.identity import UserIdentity
from server.errors import AppError
from server.functions.crons import CronJobs, cron_jobs
from server.functions.decorators import (
    action,
    internal_action,
    internal_mutation,
    internal_query,
    mutation,
    query,
)
from server.functions.http_router import http_action, http_router
from server.functions.pagination import pagination_opts_validator, paginationOptsValidator
from server.functions.references import FunctionReference, api, internal
from server.functions.schema import define_schema, define_table
from server.functions.validators import v

__all__ = [
    "AppError",
    "CronJobs",
    "FunctionReference",
    "Int64",
    "Request",
    "Response",
    "UserIdentity",
    "action",
    "api",
    "cron_jobs",
    "define_schema",
    "define_table",
    "http_action",
    "http_router",
    "internal",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "mutation",
    "paginationOptsValidator",
    "pagination_opts_validator",
    "query",
    "v",
]

"""Accounts, sign-in, API tokens and registered stations (issue 11)."""

from pump_service.services.accounts.credentials import (
    BAD_CREDENTIALS,
    LoginThrottledError,
    SignedInUser,
    authenticate,
    verify_credentials,
)
from pump_service.services.accounts.passwords import check_password_policy, hash_password, verify_password
from pump_service.services.accounts.policy import AccessPolicy
from pump_service.services.accounts.sessions import OpenedSession, close_session, open_session, resolve_session
from pump_service.services.accounts.stations import (
    StationRecord,
    disable_station,
    is_simulated_url,
    list_stations,
    register_station,
    station_of,
    usable_station,
)
from pump_service.services.accounts.tokens import IssuedToken, issue_token, list_tokens, resolve_token, revoke_token
from pump_service.services.accounts.users import (
    add_user,
    any_enabled_admin,
    disable_user,
    find_user,
    list_users,
    normalise_username,
    set_password,
)

__all__ = [
    "BAD_CREDENTIALS",
    "AccessPolicy",
    "IssuedToken",
    "LoginThrottledError",
    "OpenedSession",
    "SignedInUser",
    "StationRecord",
    "add_user",
    "any_enabled_admin",
    "authenticate",
    "check_password_policy",
    "close_session",
    "disable_station",
    "disable_user",
    "find_user",
    "hash_password",
    "is_simulated_url",
    "issue_token",
    "list_stations",
    "list_tokens",
    "list_users",
    "normalise_username",
    "open_session",
    "register_station",
    "resolve_session",
    "resolve_token",
    "revoke_token",
    "set_password",
    "station_of",
    "usable_station",
    "verify_credentials",
    "verify_password",
]

"""What a personal API token may do. A sign-in session may do everything its account may; a
token is made with one scope:

- `read`: look (every GET, and the POSTs that only read: free-text recommendations, an
  events ticket, an archive's link);
- `write`: also save and change (save pages, tags, notes, highlights, feedback, projects),
  never delete;
- `full`: everything, including deleting and the account's own settings, tokens and keys.

Tokens made before scopes existed are `full`, as they were."""

from __future__ import annotations

from typing import Literal

Scope = Literal["read", "write", "full"]
SCOPES: tuple[Scope, ...] = ("read", "write", "full")
RANK = {s: i for i, s in enumerate(SCOPES)}

READING = {"GET", "HEAD", "OPTIONS"}
# POSTs that change nothing.
READ_POSTS = {
    "/api/recommendations",
    "/api/events/ticket",
    "/api/archives/{archive_id}/link",
}
# The account itself (profile, password, Gemini key, tokens) and administration: only a
# full token, whatever the method, except reading one's profile.
ACCOUNT = ("/api/users/me", "/api/admin")
# Webhooks send the user's data to an address: changing them is the account's business too.
WEBHOOKS = "/api/webhooks"


# Any token may revoke itself (the route refuses any other token but to a full one).
REVOKE = "/api/users/me/tokens/{token_id}"


def needed(method: str, path: str) -> Scope:
    """The scope a request needs, from its method and its route's path template."""
    if method == "DELETE" and path == REVOKE:
        return "read"
    if path.startswith(ACCOUNT) and not (path == "/api/users/me" and method in READING):
        return "full"
    if path.startswith(WEBHOOKS) and method not in READING:
        return "full"
    if method in READING or (method == "POST" and path in READ_POSTS):
        return "read"
    if method == "DELETE":
        return "full"
    return "write"


def allows(scope: str, method: str, path: str) -> bool:
    return RANK.get(scope, -1) >= RANK[needed(method, path)]

"""Email addresses on names a self-hosted server's people use (localhost, .local, .test) are
accepted wherever an address is given; what is not an address is refused in a sentence."""

from __future__ import annotations

import pytest

from tests.conftest import Account

PASSWORD = "a long password"
LOCAL_ADDRESSES = ["admin@localhost", "me@host.test", "x@nas.local", "Ops@Backup.LAN"]


@pytest.mark.parametrize("email", LOCAL_ADDRESSES)
async def test_registration_accepts_special_use_domains(client, email):  # type: ignore[no-untyped-def]
    name = "u" + email.split("@")[1].replace(".", "-").lower()
    r = await client.post(
        "/api/auth/register", json={"username": name, "email": email, "password": PASSWORD}
    )
    assert r.status_code == 201, r.text
    assert r.json()["email"].lower() == email.lower()
    # And it signs in with it.
    r = await client.post("/api/auth/login", json={"login": email, "password": PASSWORD})
    assert r.status_code == 200, r.text


async def test_changing_ones_email_to_a_local_address(client, alice: Account):  # type: ignore[no-untyped-def]
    r = await client.patch(
        "/api/users/me",
        headers=alice.headers,
        json={"email": "alice@nas.local", "current_password": alice.password},
    )
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "alice@nas.local"


async def test_an_administrator_creates_an_account_on_localhost(client, alice: Account):  # type: ignore[no-untyped-def]
    me = (await client.get("/api/users/me", headers=alice.headers)).json()
    assert me["is_admin"], "the first account of the test database is its administrator"
    r = await client.post(
        "/api/admin/users",
        headers=alice.headers,
        json={"username": "made", "email": "made@localhost", "password": PASSWORD},
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-email", "Invalid email: an email address must have an @-sign."),
        ("two words@example.com", "Invalid email: the email address contains invalid characters"),
        ("x@example.invalid", "Invalid email: the part after the @-sign is a special-use"),
        ("x@.local", "Invalid email: an email address cannot have a period immediately after"),
    ],
)
async def test_what_is_not_an_address_is_refused_in_a_sentence(client, email, message):  # type: ignore[no-untyped-def]
    r = await client.post(
        "/api/auth/register", json={"username": "someone", "email": email, "password": PASSWORD}
    )
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    assert err["message"].startswith(message), err["message"]
    assert err["message"].endswith(".") and not err["message"].endswith("..")
    # No library wording ("value is not a valid email address: ...", "Value error, ...").
    assert "value is not" not in err["message"] and "Value error" not in err["message"]
    assert err["details"][0]["loc"] == ["body", "email"]

"""Finding 16: the admin's login locks out a username, and an address, after too many failures."""

from __future__ import annotations

import pytest
from django.contrib.auth.backends import ModelBackend

from config import admin_login

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff(django_user_model):
    def make(name):
        return django_user_model.objects.create_user(
            name, f"{name}@example.com", f"{name}-password", is_staff=True
        )

    return make


@pytest.fixture
def password_checks(monkeypatch):
    """How many times a password was checked (the model backend's authenticate calls)."""
    calls = []
    original = ModelBackend.authenticate

    def counting(self, request, username=None, password=None, **kwargs):
        calls.append(username)
        return original(self, request, username=username, password=password, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", counting)
    return calls


def attempt(client, username, password, ip="10.0.0.1"):
    return client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip
    )


def test_the_sixth_attempt_after_five_wrong_passwords_is_refused_even_when_right(
    client, staff, password_checks
):
    staff("alice")
    for _ in range(5):
        assert attempt(client, "alice", "wrong").status_code == 200
    assert len(password_checks) == 5
    refused = attempt(client, "alice", "alice-password")
    assert refused.status_code == 429
    assert b"Too many failed log-ins" in refused.content
    assert b"Try again in 15 minutes" in refused.content
    assert int(refused["Retry-After"]) > 800
    assert len(password_checks) == 5  # the password was not even checked
    assert "_auth_user_id" not in client.session
    assert b'name="csrfmiddlewaretoken"' in refused.content  # the login page, ready to retry


def test_another_user_is_unaffected_by_a_locked_out_one(client, staff):
    staff("alice"), staff("bob")
    for _ in range(6):
        attempt(client, "alice", "wrong")
    assert attempt(client, "bob", "bob-password").status_code == 302


def test_a_success_does_not_reset_another_users_count(client, staff):
    staff("alice"), staff("bob")
    for _ in range(4):
        attempt(client, "alice", "wrong")
    assert attempt(client, "bob", "bob-password").status_code == 302
    client.logout()
    assert attempt(client, "alice", "wrong").status_code == 200
    assert attempt(client, "alice", "alice-password").status_code == 429


def test_successful_logins_are_not_failures(client, staff):
    staff("alice")
    for _ in range(8):
        assert attempt(client, "alice", "alice-password").status_code == 302
        client.logout()


def test_an_address_is_locked_out_after_twenty_failures_across_usernames(client, staff, settings):
    staff("bob")
    assert settings.ADMIN_LOGIN_FAILURES_IP == 20
    for i in range(20):
        assert attempt(client, f"guess-{i}", "wrong", ip="203.0.113.9").status_code == 200
    assert attempt(client, "bob", "bob-password", ip="203.0.113.9").status_code == 429
    assert attempt(client, "bob", "bob-password", ip="198.51.100.7").status_code == 302


def test_an_ipv6_address_is_counted_by_its_64(client, staff, settings):
    settings.ADMIN_LOGIN_FAILURES_IP = 3
    staff("bob")
    for i in range(3):
        attempt(client, f"guess-{i}", "wrong", ip=f"2001:db8:1:2::{i + 1}")
    assert attempt(client, "bob", "bob-password", ip="2001:db8:1:2::99").status_code == 429
    assert attempt(client, "bob", "bob-password", ip="2001:db8:1:3::1").status_code == 302


def test_failures_leave_the_window_after_fifteen_minutes(client, staff, monkeypatch):
    staff("alice")
    now = [1_800_000_000.0]
    monkeypatch.setattr(admin_login.time, "time", lambda: now[0])
    for _ in range(5):
        attempt(client, "alice", "wrong")
    now[0] += 14 * 60
    assert attempt(client, "alice", "alice-password").status_code == 429
    now[0] += 61
    assert attempt(client, "alice", "alice-password").status_code == 302


def test_usernames_are_counted_whatever_their_case(client, staff):
    staff("alice")
    for name in ("alice", "Alice", "ALICE", " alice", "aLice"):
        attempt(client, name, "wrong")
    assert attempt(client, "alice", "alice-password").status_code == 429


def test_the_login_page_still_shows(client):
    page = client.get(LOGIN)
    assert page.status_code == 200 and b'name="password"' in page.content


def test_the_login_still_works_when_the_cache_does_not_answer(client, staff, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    staff("alice")

    def down(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(admin_login.cache, "add", down)
    assert attempt(client, "alice", "wrong").status_code == 200
    assert attempt(client, "alice", "alice-password").status_code == 302

"""The redaction presets match what docs/safety.md says, and nothing else that looks close."""

from __future__ import annotations

import pytest

from kafkalog import ConfigError
from kafkalog.redact import redactor_for

MATCHED = [
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----", "private_key"),
    ("auth Bearer abc.DEF-123_xyz", "bearer"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "jwt"),
    ("key AKIAIOSFODNN7EXAMPLE used", "aws_key"),
    ("ghp_" + "a1" * 18, "github_token"),
    ("xoxb-1234567890-abc", "slack_token"),
    ("AIza" + "b" * 35, "google_api_key"),
    ("sk_live_" + "c" * 24, "stripe_key"),
    ("postgres://app:pw0rd@db:5432/x", "url_password"),
    ("api_key='k-9'", "assignment"),
]
PII = [("mail bob.smith+x@mail.example.org now", "email"), ("card 4111-1111-1111-1111", "card"),
       ("iban GB82 WEST 1234 5698 7654 32", "iban")]
NOT_MATCHED = ["order 4111 1111 1111 1112 shipped", "iban GB00 WEST 1234 5698 7654 32", "max_tokens: 5",
               "user alice paid 42", "a@b", "https://example.org/path"]


@pytest.mark.parametrize(("text", "name"), MATCHED)
def test_secrets_preset(text: str, name: str) -> None:
    assert f"[redacted:{name}]" in redactor_for("secrets").text(text)  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "name"), PII)
def test_pii_preset(text: str, name: str) -> None:
    assert f"[redacted:{name}]" in redactor_for("pii").text(text)  # type: ignore[union-attr]


@pytest.mark.parametrize("text", NOT_MATCHED)
def test_left_alone(text: str) -> None:
    redactor = redactor_for(["secrets", "pii"])
    assert redactor is not None and redactor.text(text) is text


def test_keys_any_depth_copy_on_write() -> None:
    redactor = redactor_for({"presets": ["secrets"], "keys": ["SSN"]})
    assert redactor is not None
    nested = {"headers": {"X-Api-Key": "k", "Accept": "json"}, "items": [{"ssn": "1"}, "ok"]}
    event = {"msg": "m", "fields": {"outer": nested, "max_tokens": 5}, "db_password": "p"}
    out = redactor.event(event)
    assert out["fields"]["outer"] == {"headers": {"X-Api-Key": "[redacted:key]", "Accept": "json"},
                                      "items": [{"ssn": "[redacted:key]"}, "ok"]}
    assert out["fields"]["max_tokens"] == 5 and out["db_password"] == "[redacted:key]"
    assert nested["headers"]["X-Api-Key"] == "k"  # the application's own dict is never changed
    assert redactor.redacted == 1


@pytest.mark.parametrize(("value", "problem"), [
    ({"patterns": {"p": "("}}, "pattern 'p' is not a valid regular expression"),
    ({"patterns": {"p": "x*"}}, "pattern 'p' matches the empty string"),
    ({"presets": ["nope"]}, "unknown preset 'nope'"),
    ({"keys": [""]}, "keys must be non-empty"),
    ({"other": 1}, "unknown key"),
    ([], "names nothing"),
])
def test_refused(value: object, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"redact: .*{problem}"):
        redactor_for(value)


def test_top_level_values_searched_and_static_ones_once() -> None:
    redactor = redactor_for("secrets")
    assert redactor is not None
    static = "https://svc:pw0rd@db.example"
    for _ in range(2):
        event = {"msg": "m", "fields": {}, "dsn": static, "note": "Bearer abcdefgh12345678"}
        out = redactor.event(event)
        assert out["dsn"] == "https://svc:[redacted:url_password]@db.example"
        assert out["note"] == "Bearer [redacted:bearer]"
    clean = {"msg": "m", "fields": {}, "service": "billing"}
    assert redactor.event(clean)["service"] == "billing"
    assert redactor._clean_top["service"] is clean["service"]

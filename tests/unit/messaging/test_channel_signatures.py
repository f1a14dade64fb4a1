"""Webhook verification against the official vectors (protocols.md §1.4, §2.3, §3):
Twilio T1, T3, T4-T8, T9 (and T10, T11 as regression data), the HMAC-SHA256 hex scheme
vector M1 (and M3-M5), the Meta handshake, Telegram's secret token, and the public URL
the provider signed behind a TLS proxy. Pure: no I/O."""

from __future__ import annotations

import pytest

from channels.meta.signature import answer_challenge
from channels.meta.signature import compute_signature as meta_signature
from channels.meta.signature import verify_signature as verify_meta
from channels.telegram.signature import check_secret_format, verify_secret_token
from channels.twilio.signature import (
    body_sha256,
    compute_signature,
    string_to_sign,
    url_variants,
    verify_form,
    verify_json,
)
from channels.webhook_url import signed_url
from hub.config import settings_from_env
from hub.errors import BadInput, ConfigError, Forbidden, Unauthorized

TOKEN = "12345"
T1_URL = "https://example.com/myapp.php?foo=1&bar=2"
T1_PARAMS = [("Digits", "1234"), ("To", "+18005551212"), ("From", "+14158675310"),
             ("Caller", "+14158675310"), ("CallSid", "CA1234567890ABCDE")]
T3_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
T3_PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("From", "+14158675309"),
             ("To", "+18005551212"), ("Caller", "+14158675309")]
T3_SIG = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_t1_string_to_sign_and_signature() -> None:
    assert string_to_sign(T1_URL, T1_PARAMS) == (
        "https://example.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675310"
        "Digits1234From+14158675310To+18005551212")
    assert compute_signature(TOKEN, T1_URL, T1_PARAMS) == "L/OH5YylLD5NRKLltdqwSvS0BnU="
    verify_form(TOKEN, T1_URL, T1_PARAMS, "L/OH5YylLD5NRKLltdqwSvS0BnU=")


def test_t3_sdk_vector() -> None:
    assert compute_signature(TOKEN, T3_URL, T3_PARAMS) == T3_SIG
    verify_form(TOKEN, T3_URL, T3_PARAMS, T3_SIG)


@pytest.mark.parametrize(("url", "signature"), [
    # T4: signed with :443 added; the URL as received has no port.
    (T3_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
    # T5: signed with :80 added on http.
    ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    # T6: signed with the explicit non-default port kept.
    ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
    # T7: received with :1234 but signed without a port (Voice over HTTPS drops it).
    ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", T3_SIG),
])
def test_t4_to_t7_port_variants(url: str, signature: str) -> None:
    verify_form(TOKEN, url, T3_PARAMS, signature)


def test_t4_t5_t6_exact_signatures() -> None:
    assert compute_signature(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                             T3_PARAMS) == "kvajT1Ptam85bY51eRf/AJRuM3w="
    assert compute_signature(TOKEN, "http://mycompany.com:80/myapp.php?foo=1&bar=2",
                             T3_PARAMS) == "0ZXoZLH/DfblKGATFgpif+LLRf4="
    assert compute_signature(TOKEN, "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
                             T3_PARAMS) == "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="


def test_url_variants() -> None:
    assert url_variants("https://h.example/p?q=1") == (
        "https://h.example/p?q=1", "https://h.example:443/p?q=1")
    assert url_variants("http://h.example:8080/p") == (
        "http://h.example/p", "http://h.example:8080/p")
    assert url_variants("https://[::1]:8443/p") == ("https://[::1]/p", "https://[::1]:8443/p")


def test_t8_repeated_keys_sorted_by_value() -> None:
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert string_to_sign(T3_URL, params).endswith("Digits1234Digits5678SidCA123SidAccountAC123")
    assert compute_signature(TOKEN, T3_URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    verify_form(TOKEN, T3_URL, params, "IK+Dwps556ElfBT0I3Rgjkr1wJU=")


def test_t9_json_body_sha256() -> None:
    body = b'{"property": "value", "boolean": true}'
    assert body_sha256(body) == (
        "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620")
    url = T3_URL + "&bodySHA256=" + body_sha256(body)
    verify_json(TOKEN, url, body, "a9nBmqA0ju/hNViExpshrM61xv4=")
    with pytest.raises(Forbidden):  # body changed, signature of the URL still valid
        verify_json(TOKEN, url, body + b" ", "a9nBmqA0ju/hNViExpshrM61xv4=")
    with pytest.raises(Forbidden):  # no bodySHA256 in the URL
        verify_json(TOKEN, T3_URL, body, "a9nBmqA0ju/hNViExpshrM61xv4=")


def test_t10_host_case_is_not_normalised() -> None:
    url = "https://MyCompany.com/myapp.php?foo=1&bar=2"
    assert compute_signature(TOKEN, url, T3_PARAMS) == "g9IN/x4Cft2g517EjYvEvM/W7LU="
    with pytest.raises(Forbidden):
        verify_form(TOKEN, url, T3_PARAMS, T3_SIG)


def test_t11_sms_shaped_regression_vector() -> None:
    params = [("MessageSid", "SM00000000000000000000000000000001"),
              ("AccountSid", "AC00000000000000000000000000000001"), ("From", "+15555550100"),
              ("To", "+15555550199"), ("Body", "Hello world"), ("NumMedia", "0")]
    assert compute_signature(TOKEN, "https://example.com/twilio/sms", params) == (
        "q6P8VSc+rbv9Rzf5pNuIpT7hRjI=")


@pytest.mark.parametrize("mutate", [
    lambda p: [*p, ("Extra", "1")],            # a parameter added in transit
    lambda p: [(k, v + " ") for k, v in p],    # whitespace trimming/adding breaks it
    lambda p: p[1:],                           # a parameter dropped
])
def test_twilio_tampered_params_are_refused(mutate: object) -> None:
    with pytest.raises(Forbidden):
        verify_form(TOKEN, T3_URL, mutate(T3_PARAMS), T3_SIG)  # type: ignore[operator]


def test_twilio_missing_signature_wrong_token_wrong_url() -> None:
    with pytest.raises(Unauthorized):
        verify_form(TOKEN, T3_URL, T3_PARAMS, None)
    with pytest.raises(Unauthorized):
        verify_form(TOKEN, T3_URL, T3_PARAMS, "")
    with pytest.raises(Forbidden):
        verify_form("54321", T3_URL, T3_PARAMS, T3_SIG)
    with pytest.raises(Forbidden):
        verify_form("", T3_URL, T3_PARAMS, T3_SIG)
    with pytest.raises(Forbidden):  # the hub's own (proxied) URL is not what Twilio signed
        verify_form(TOKEN, "http://127.0.0.1:8000/myapp.php?foo=1&bar=2", T3_PARAMS, T3_SIG)


def test_m1_hmac_sha256_hex_vector() -> None:
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert meta_signature(secret, body) == expected
    assert verify_meta([secret], body, expected) == secret
    assert verify_meta(["other", secret], body, expected.upper().replace("SHA256", "sha256"))
    with pytest.raises(Forbidden):
        verify_meta([secret], body + b"\n", expected)


def test_m2_m3_m4_m5_raw_bytes_not_reserialised() -> None:
    assert meta_signature("secret", b"test") == (
        "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914")
    m3 = (b'{"object":"page","entry":[{"id":"PAGE_ID","time":1458692752478,"messaging":[{"sender":'
          b'{"id":"PSID"},"recipient":{"id":"PAGE_ID"},"timestamp":1458692752478,"message":{"mid":'
          b'"mid.1457764197618:41d102a3e1ae206a38","text":"hello, world!"}}]}]}')
    assert len(m3) == 239
    assert meta_signature("test_app_secret", m3) == (
        "sha256=eec1906d2e5dc1a43a1014f196b421cf9d7b6696ead890eadf906dbbfe03f791")
    escaped = b'{"text":"\\u00e4\\u00f6\\u00e5"}'
    raw = '{"text":"äöå"}'.encode()
    assert meta_signature("test_app_secret", escaped) == (
        "sha256=02331cadf5416e9e5dc4ecf73b5c9b7aa6577a90b90fbb6bad6e9a35d8a8f6a9")
    assert meta_signature("test_app_secret", raw) == (
        "sha256=1156bb8871b0fb6c41be587675ee25663758799081f9aa28d1ecccad94158e9d")
    with pytest.raises(Forbidden):  # same JSON value, different bytes: refused
        verify_meta(["test_app_secret"], raw, meta_signature("test_app_secret", escaped))


def test_meta_signature_header_shapes() -> None:
    with pytest.raises(Unauthorized):
        verify_meta(["s"], b"x", None)
    with pytest.raises(Forbidden):  # legacy sha1 header value is not accepted
        verify_meta(["s"], b"x", "sha1=" + "0" * 40)
    with pytest.raises(Forbidden):
        verify_meta([""], b"x", meta_signature("", b"x"))  # unset secret never matches


def test_meta_handshake() -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444",
              "hub.verify_token": "meatyhamhock"}
    assert answer_challenge(params, ["other", "meatyhamhock"]) == "1158201444"
    with pytest.raises(Forbidden):
        answer_challenge({**params, "hub.verify_token": "nope"}, ["meatyhamhock"])
    with pytest.raises(Forbidden):
        answer_challenge({**params, "hub.verify_token": ""}, [""])
    with pytest.raises(BadInput):
        answer_challenge({**params, "hub.mode": "unsubscribe"}, ["meatyhamhock"])
    with pytest.raises(BadInput):
        answer_challenge({**params, "hub.challenge": ""}, ["meatyhamhock"])


def test_telegram_secret_token() -> None:
    verify_secret_token("s3cr3t_-X", "s3cr3t_-X")
    with pytest.raises(Unauthorized):
        verify_secret_token("s3cr3t", None)
    with pytest.raises(Forbidden):
        verify_secret_token("s3cr3t", "s3cr3T")
    with pytest.raises(Forbidden):
        verify_secret_token("", "anything")
    assert check_secret_format("a" * 256)
    for bad in ("", "a" * 257, "has space", "slash/"):
        with pytest.raises(ConfigError):
            check_secret_format(bad)


def test_signed_url_behind_a_tls_proxy() -> None:
    received = "http://127.0.0.1:8000/webhooks/twilio/sms?x=1"
    assert signed_url("", "/webhooks/twilio/sms", "x=1", received) == received
    assert signed_url("https://hub.example.com/", "/webhooks/twilio/sms", "x=1", received) == (
        "https://hub.example.com/webhooks/twilio/sms?x=1")
    assert signed_url("https://example.com/omnihub", "/webhooks/twilio/sms", "", received) == (
        "https://example.com/omnihub/webhooks/twilio/sms")
    settings = settings_from_env({"OMNIHUB_WEBHOOK_BASE_URL": "https://hub.example.com"})
    assert settings.webhook_base_url == "https://hub.example.com"
    for bad in ("hub.example.com", "ftp://x", "https://x/?q=1"):
        with pytest.raises(ConfigError):
            settings_from_env({"OMNIHUB_WEBHOOK_BASE_URL": bad})

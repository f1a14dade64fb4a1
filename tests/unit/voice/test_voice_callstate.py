"""Pure tests of the call state machine, the CTI payload parser, numbers and the
reply rules. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from channels.cti.generic import (
    InvalidDirection,
    customer_identity,
    envelope_for_call,
    read_payload,
    signal_from_cti,
)
from channels.cti.numbers import require_e164, to_e164
from hub.errors import BadInput
from hub.schema import decode_envelope, encode
from hub.voice.rules.callstate import CallRecord, CallSignal, apply_signal
from hub.voice.rules.pbx import CallerIdRule, CtiRules, cti_reply, matches

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def sig(kind: str, at: int = 0, **kw: object) -> CallSignal:
    base: dict[str, object] = {"call_id": "c1", "direction": "in",
                               "from_number": "+493055571600", "to_number": "+4930123456",
                               "at": T0 + timedelta(seconds=at)}
    base.update(kw)
    return CallSignal(kind=kind, **base)  # type: ignore[arg-type]


def run(*signals: CallSignal) -> tuple[CallRecord, list[tuple[str, ...]]]:
    rec: CallRecord | None = None
    effects = []
    for s in signals:
        tr = apply_signal(rec, s)
        rec = tr.record
        effects.append(tr.effects)
    assert rec is not None
    return rec, effects


def test_ring_answer_hangup_is_completed_with_duration():
    rec, eff = run(sig("ring"), sig("answer", 5, answering="101"),
                   sig("hangup", 65, cause="normalClearing"))
    assert rec.state == "completed"
    assert rec.answered_at == T0 + timedelta(seconds=5)
    assert rec.duration_s == 60
    assert rec.answering == "101"
    assert eff == [("created", "ringing"), ("answered",), ("ended",)]


def test_ring_hangup_is_missed_and_due_a_callback():
    rec, eff = run(sig("ring"), sig("hangup", 20, cause="cancel"))
    assert rec.state == "missed"
    assert rec.cause == "cancel"
    assert rec.duration_s is None
    assert eff[-1] == ("ended", "missed")


def test_hangup_without_cause_before_answer_is_noanswer():
    rec, _ = run(sig("ring"), sig("hangup", 20))
    assert (rec.state, rec.cause) == ("missed", "noAnswer")


def test_forwarded_and_outbound_unanswered_are_not_missed():
    rec, eff = run(sig("ring"), sig("hangup", 3, cause="forwarded"))
    assert rec.state == "forwarded" and "missed" not in eff[-1]
    rec, eff = run(sig("ring", direction="out"), sig("hangup", 30, direction="out", cause="busy"))
    assert rec.state == "not_answered" and "missed" not in eff[-1]


def test_duplicates_change_nothing():
    first, _ = run(sig("ring"), sig("answer", 5, answering="101"))
    again = apply_signal(first, sig("answer", 9, answering="102"))
    assert again.effects == ("ignored",) and again.record == first
    ring_again = apply_signal(first, sig("ring", 1))
    assert ring_again.effects == ("ignored",) and ring_again.record == first
    done, _ = run(sig("ring"), sig("hangup", 10))
    assert apply_signal(done, sig("hangup", 11)).effects == ("ignored",)


def test_late_newcall_after_hangup_is_ignored_but_fills_missing_facts():
    rec, _ = run(sig("hangup", 30, from_number="", cause="noAnswer"))
    assert rec.state == "missed"
    late = apply_signal(rec, sig("ring", 0, queue="support", ivr={"account": "AC-1"}))
    assert late.record.state == "missed"
    assert late.effects == ("enriched",)
    assert late.record.from_number == "+493055571600"
    assert late.record.queue == "support"
    assert late.record.ivr == {"account": "AC-1"}
    assert late.record.started_at == T0


def test_unknown_call_events_create_the_call():
    answered = apply_signal(None, sig("answer", 5, answering="101"))
    assert answered.effects == ("created", "answered")
    assert answered.record.state == "answered"
    ended = apply_signal(None, sig("hangup", 5))
    assert ended.effects == ("created", "ended", "missed")


def test_answer_overtaken_by_its_hangup_unmisses_the_call():
    rec, eff = run(sig("ring"), sig("hangup", 60, cause="normalClearing"),
                   sig("answer", 5, answering="101"))
    assert rec.state == "completed"
    assert rec.answered_at == T0 + timedelta(seconds=5)
    assert rec.duration_s == 55
    assert eff[-1] == ("unmissed", "answered")


def test_answer_arriving_after_hangup_by_clock_is_clamped():
    rec, _ = run(sig("ring"), sig("hangup", 10, cause="noAnswer"), sig("answer", 20))
    assert rec.state == "completed" and rec.cause == "normalClearing"
    assert rec.answered_at == rec.ended_at and rec.duration_s == 0


def test_ivr_data_is_kept_and_never_overwritten():
    rec, _ = run(sig("ring", ivr={"account": "AC-1", "menu": "1-3"}),
                 sig("answer", 2, ivr={"account": "AC-2", "language": "de"}))
    assert rec.ivr == {"account": "AC-1", "menu": "1-3", "language": "de"}


def test_blocked_call_is_ended_at_once_and_never_missed():
    rec, eff = run(sig("ring", blocked=True), sig("hangup", 1, cause="busy"))
    assert rec.state == "blocked"
    assert eff == [("created", "ended"), ("ignored",)]


def test_signal_for_another_call_is_a_bug():
    rec, _ = run(sig("ring"))
    with pytest.raises(ValueError):
        apply_signal(rec, sig("answer", call_id="other"))


# ---- parsing ------------------------------------------------------------------------


def test_parse_zammad_json_event():
    data = read_payload(b'{"event":"newCall","from":"493055571600","to":"4930123456",'
                        b'"direction":"in","callId":"4991155921769858278-1","user":["Maya"],'
                        b'"queue":"support","ivr":{"account":"AC-1","menu":[1,3],'
                        b'"language":"de"},"extra":"ignored"}', "application/json")
    s = signal_from_cti(data, T0)
    assert s.kind == "ring" and s.from_number == "+493055571600"
    assert s.users == ("Maya",) and s.queue == "support"
    assert s.ivr == {"account": "AC-1", "menu": "1-3", "language": "de"}


def test_parse_zammad_form_event_with_user_array():
    data = read_payload(b"event=hangup&from=493055571600&to=4930123456&direction=in&"
                        b"callId=x1&cause=busy&user%5B%5D=A&user%5B%5D=B&answeringNumber=101"
                        b"&ivr_account=AC-9", "application/x-www-form-urlencoded")
    s = signal_from_cti(data, T0)
    assert (s.kind, s.cause, s.users, s.answering) == ("hangup", "busy", ("A", "B"), "101")
    assert s.ivr == {"account": "AC-9"}


@pytest.mark.parametrize(("body", "error"), [
    ({"event": "ring", "direction": "in", "callId": "1"}, "unknown_event"),
    ({"event": "newCall", "direction": "in"}, "invalid_body"),
    ({"event": "newCall", "direction": "in", "callId": "a b"}, "invalid_body"),
    ({"event": "hangup", "direction": "in", "callId": "1", "cause": "exploded"}, "invalid_body"),
    ({"event": "newCall", "direction": "in", "callId": "1", "user": {"a": 1}}, "invalid_body"),
    ({"event": "newCall", "direction": "in", "callId": "1", "ivr": {"A B": 1}}, "invalid_body"),
    ({"event": "newCall", "direction": "in", "callId": "1", "timestamp": "soon"},
     "invalid_body"),
    ({"event": "newCall", "direction": "in", "callId": "1", "from": ["x"]}, "invalid_body"),
])
def test_bad_events_name_the_problem(body, error):
    with pytest.raises(BadInput) as exc:
        signal_from_cti(body, T0)
    assert exc.value.code == error


def test_invalid_direction_is_422_like_zammad():
    with pytest.raises(InvalidDirection) as exc:
        signal_from_cti({"event": "newCall", "direction": "sideways", "callId": "1"}, T0)
    assert exc.value.status == 422 and exc.value.reason == "Invalid direction!"


def test_payload_content_types():
    with pytest.raises(BadInput) as exc:
        read_payload(b"{", "application/json")
    assert exc.value.code == "bad_json"
    with pytest.raises(BadInput) as exc:
        read_payload(b"[]", "application/json")
    assert exc.value.code == "invalid_body"
    with pytest.raises(BadInput) as exc:
        read_payload(b"x", "text/xml")
    assert exc.value.code == "unsupported_media_type"


def test_timestamps_iso_and_unix():
    base = {"event": "newCall", "direction": "in", "callId": "1"}
    assert signal_from_cti({**base, "timestamp": "2026-11-29T10:00:05Z"}, T0).at == \
        T0 + timedelta(seconds=5)
    assert signal_from_cti({**base, "timestamp": T0.timestamp() + 7}, T0).at == \
        T0 + timedelta(seconds=7)


def test_numbers_to_e164():
    assert to_e164("493055571600") == "+493055571600"
    assert to_e164("030 5557 1600") == "+493055571600"
    assert to_e164("0044 20 7183 8750") == "+442071838750"
    assert to_e164("anonymous") is None
    assert to_e164("101") is None  # an extension stays an extension
    assert to_e164("+447700900123") is None  # drama range: not assigned...
    assert to_e164("+447700900123", strict=False) == "+447700900123"  # ...but possible
    assert require_e164("+1 202 555 0123") == "+12025550123"
    with pytest.raises(BadInput) as exc:
        require_e164("12345")
    assert exc.value.code == "invalid_phone" and "country code" in exc.value.reason


def test_anonymous_caller_gets_a_per_call_identity_and_envelope_round_trips():
    s = sig("ring", from_number="anonymous")
    assert customer_identity(s).kind == "external"
    env = envelope_for_call("phone", sig("ring", ivr={"language": "de"}, queue="q"), "newCall",
                            T0)
    assert env.provider_id == "c1:newCall" and env.sender.value == "+493055571600"
    assert env.attributes == {"ivr.language": "de", "language": "de", "queue": "q"}
    assert decode_envelope(encode(env)) == env


# ---- replies --------------------------------------------------------------------------

RULES = CtiRules(blocked=("+493099999999", "49180*"),
                 caller_id_rules=(CallerIdRule(dest="1*", caller_id="+1 202 555 0100"),
                                  CallerIdRule(dest="44*", caller_id="442071838750")),
                 default_caller_id="493055571600")


def test_reply_reject_for_blocked_callers():
    assert cti_reply(sig("ring", from_number="+493099999999"), RULES) == \
        {"action": "reject", "reason": "busy"}
    assert cti_reply(sig("ring", from_number="+4918012345"), RULES)["action"] == "reject"
    assert cti_reply(sig("ring"), RULES) == {}
    # Only newCall is answered with an action.
    assert cti_reply(sig("hangup", from_number="+493099999999"), RULES) == {}


def test_reply_dial_with_caller_id_rules_then_default():
    out = sig("ring", direction="out", to_number="+12025550123")
    assert cti_reply(out, RULES) == {"action": "dial", "caller_id": "12025550100",
                                     "number": "12025550123"}
    uk = sig("ring", direction="out", to_number="+442079460000")
    assert cti_reply(uk, RULES)["caller_id"] == "442071838750"
    de = sig("ring", direction="out", to_number="+4930123456")
    assert cti_reply(de, RULES)["caller_id"] == "493055571600"
    assert cti_reply(de, CtiRules()) == {}


def test_patterns():
    assert matches("49*", "+49301")
    assert not matches("49*", "+4430")
    assert matches("*", "123")
    assert not matches("", "123")
    assert matches("+49 30 *00", "493012300")

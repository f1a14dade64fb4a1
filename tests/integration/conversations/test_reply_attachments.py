"""Files on agent replies: uploaded once (size checked while reading, nothing kept when
refused), claimed by exactly one reply of their uploader in their conversation, sent as
MIME attachments of the email through a real SMTP server, downloadable from the
timeline, and refused (with nothing stored) on channels that cannot carry them yet."""

from __future__ import annotations

import msgspec
import pytest

from tests.fixtures.helpers import agent_http, login
from tests.fixtures.mail import agent_reply, email_conversation, job_ctx, with_relay
from tests.fixtures.smtp_peer import SmtpPeer
from workers.delivery import deliver_message

PDF = b"%PDF-1.4\n" + b"invoice " * 400


@pytest.fixture
def settings(settings, tmp_path):
    """Uploads go to this test's own blob store, not the checkout's .omnihub."""
    return msgspec.structs.replace(settings, mail_blob_dir=str(tmp_path / "blobs"))


@pytest.fixture
async def peer():
    p = await SmtpPeer().start()
    yield p
    await p.stop()


async def upload(http, cid, data, name="invoice.pdf", ctype="application/pdf"):
    return await http.post(f"/api/v1/conversations/{cid}/uploads?filename={name}",
                           content=data, headers={"Content-Type": ctype})


async def test_an_uploaded_file_goes_out_with_the_email_reply(hub, db, redis, peer):
    cid = await email_conversation(db)
    async with agent_http(hub.base_url, await login(hub.base_url)) as http:
        r = await upload(http, cid, PDF, name="../../Rechnung März.pdf")
        assert r.status_code == 201, r.text
        up = r.json()["upload"]
        assert (up["filename"], up["content_type"], up["size"]) == (
            "Rechnung März.pdf", "application/pdf", len(PDF))
        r = await http.post(f"/api/v1/conversations/{cid}/messages", json={
            "text": "Your invoice is attached.", "attachments": [up["id"]]})
        assert r.status_code == 201, r.text
        msg = r.json()["message"]
        assert [a["filename"] for a in msg["attachments"]] == ["Rechnung März.pdf"]
        # The same upload cannot go out twice.
        again = await http.post(f"/api/v1/conversations/{cid}/messages", json={
            "text": "Again", "attachments": [up["id"]]})
        assert again.status_code == 400 and "already sent" in again.json()["reason"]
        # The agent's timeline offers the file for download.
        dl = await http.get(f"/api/v1/messages/{msg['id']}/attachments/0")
        assert dl.status_code == 200 and dl.content == PDF
    ctx = job_ctx(db, redis, with_relay(hub.settings, peer))
    assert await deliver_message(ctx, msg["id"]) == "sent"
    mail = peer.handler.received[0].message
    assert mail.get_content_type() == "multipart/mixed"
    parts = list(mail.iter_attachments())
    assert [(p.get_filename(), p.get_content_type()) for p in parts] == [
        ("Rechnung März.pdf", "application/pdf")]
    assert parts[0].get_content() == PDF
    assert "Your invoice is attached." in mail.get_body(("plain",)).get_content()


async def test_refused_uploads_and_claims_change_nothing(hub, db):
    cid = await email_conversation(db)
    chat = await db.fetchval(
        "INSERT INTO conversations (inbox, channel, contact_id, contact_identity)"
        " SELECT 'web', 'chat', id, 'visitor:x' FROM contacts LIMIT 1 RETURNING id")
    big = b"x" * (hub.settings.upload_max_bytes + 1)
    async with agent_http(hub.base_url, await login(hub.base_url)) as http:
        assert (await upload(http, cid, big)).status_code == 413
        assert (await upload(http, cid, b"")).status_code == 400
        assert (await upload(http, cid, PDF, name="")).status_code == 400
        assert (await upload(http, 999999, PDF)).status_code == 404
        assert await db.fetchval("SELECT count(*) FROM uploads") == 0
        # An HTML upload is stored as inert bytes, never served as HTML.
        html = (await upload(http, cid, b"<script>alert(1)</script>", "x.html",
                             "text/html")).json()["upload"]
        assert html["content_type"] == "application/octet-stream"

        up = (await upload(http, chat, PDF)).json()["upload"]
        before = await db.fetchval("SELECT count(*) FROM messages")
        for body, reason in [
            ({"text": "file", "attachments": [up["id"]]}, "not supported on chat"),
            ({"text": "file", "attachments": ["nope"]}, "upload ids"),
            ({"text": "file", "attachments": [up["id"], up["id"]]}, "twice"),
        ]:
            r = await http.post(f"/api/v1/conversations/{chat}/messages", json=body)
            assert r.status_code == 400 and reason in r.json()["reason"], r.text
        # An upload of another conversation cannot be attached here.
        r = await http.post(f"/api/v1/conversations/{cid}/messages",
                            json={"text": "file", "attachments": [up["id"]]})
        assert r.status_code == 400
        assert await db.fetchval("SELECT count(*) FROM messages") == before
        assert await db.fetchval("SELECT count(*) FROM uploads WHERE message_id IS NOT NULL") == 0
        # On a private note the file is kept with the note, on any channel.
        r = await http.post(f"/api/v1/conversations/{chat}/messages",
                            json={"text": "the customer's contract", "private": True,
                                  "attachments": [up["id"]]})
        assert r.status_code == 201, r.text
    # Another agent cannot use the first agent's upload.
    up2_owner = await db.fetchval("SELECT agent_id FROM uploads WHERE id = $1::uuid",
                                  html["id"])
    async with agent_http(hub.base_url, await login(
            hub.base_url, ("supervisor@demo.omnihub.test", "demo-super"))) as boss:
        r = await boss.post(f"/api/v1/conversations/{cid}/messages",
                            json={"text": "mine?", "attachments": [html["id"]]})
        assert r.status_code == 400
    assert await db.fetchval("SELECT agent_id FROM uploads WHERE id = $1::uuid",
                             html["id"]) == up2_owner


async def test_a_reply_whose_file_vanished_fails_with_the_reason(hub, db, redis, peer, tmp_path):
    cid = await email_conversation(db)
    async with agent_http(hub.base_url, await login(hub.base_url)) as http:
        up = (await upload(http, cid, PDF + b"unique")).json()["upload"]
    msg = await agent_reply(hub, cid, "See attached")
    ref = await db.fetchval("SELECT ref FROM uploads WHERE id = $1::uuid", up["id"])
    await db.execute("UPDATE uploads SET message_id = $1 WHERE id = $2::uuid", msg["id"],
                     up["id"])
    await db.execute("UPDATE messages SET attachments = $2::jsonb WHERE id = $1", msg["id"],
                     msgspec.json.encode([{"ref": ref, "filename": "gone.pdf",
                                           "content_type": "application/pdf",
                                           "size": 1}]).decode())
    settings = msgspec.structs.replace(with_relay(hub.settings, peer),
                                       mail_blob_dir=str(tmp_path / "empty"))
    assert await deliver_message(job_ctx(db, redis, settings), msg["id"]) != "sent"
    row = await db.fetchrow("SELECT status, status_error FROM messages WHERE id = $1", msg["id"])
    assert row["status"] == "failed" and "gone.pdf" in row["status_error"]
    assert peer.handler.received == []

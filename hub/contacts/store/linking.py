"""Find-or-create the contacts of a batch of senders, applying the linking rules of
hub.contacts.rules.identity. Round trips per batch, not per message: one read of every identity owner
and CRM column the rules may need, one insert of new contacts, one insert of new
identity links (sorted, ON CONFLICT DO NOTHING), one insert of claims; a lost race is
resolved by re-reading the winner.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from hub.contacts.rules.identity import (
    Known,
    Resolution,
    crm_attribute,
    identity_key,
    lookup_keys,
    resolve_sender,
)
from hub.schema import Envelope, Identity


async def _read_known(conn: asyncpg.Connection, keys: set[str],
                      crm: set[tuple[str, str]]) -> Known:
    kinds, values = zip(*(k.split(":", 1) for k in sorted(keys)), strict=True)
    crm_list = sorted(crm)
    rows = await conn.fetch(
        "SELECT 'i' AS src, i.kind, i.value, i.contact_id FROM identities i"
        " JOIN unnest($1::text[], $2::text[]) AS k(k_kind, k_value)"
        "   ON i.kind = k.k_kind AND i.value = k.k_value"
        " UNION ALL"
        " SELECT 'c', k.col, k.val, c.id FROM unnest($3::text[], $4::text[]) AS k(col, val)"
        " JOIN contacts c ON c.merged_into IS NULL AND"
        "   ((k.col = 'email' AND c.email = k.val) OR (k.col = 'phone' AND c.phone = k.val))",
        list(kinds), list(values), [c[0] for c in crm_list], [c[1] for c in crm_list],
    )
    owners: dict[str, int] = {}
    crm_found: dict[tuple[str, str], set[int]] = {}
    for r in rows:
        if r["src"] == "i":
            owners[f"{r['kind']}:{r['value']}"] = r["contact_id"]
        else:
            crm_found.setdefault((r["kind"], r["value"]), set()).add(r["contact_id"])
    return Known(owners=owners, crm={k: frozenset(v) for k, v in crm_found.items()})


async def _hold_live_contacts(conn: asyncpg.Connection, plans: Iterable[Resolution]) -> None:
    """Key-share lock the contacts the plans chose, in id order, until commit: a merge
    (FOR UPDATE) waits for this batch, or this batch waits for the merge and then
    follows the tombstone to the survivor. Without it a batch that read an identity
    just before a merge committed would attach rows to the merged contact."""
    todo = list(plans)
    for _ in range(32):
        ids = sorted({p.contact_id for p in todo if p.contact_id is not None})
        if not ids:
            return
        rows = await conn.fetch(
            "SELECT id, merged_into FROM contacts WHERE id = ANY($1::bigint[])"
            " ORDER BY id FOR KEY SHARE", ids)
        moved = {r["id"]: r["merged_into"] for r in rows if r["merged_into"] is not None}
        if not moved:
            return
        todo = [p for p in todo if p.contact_id in moved]
        for p in todo:
            p.contact_id = moved[p.contact_id]


def _seed_columns(ident: Identity) -> tuple[str | None, str | None]:
    """(email, phone) a contact created from this verified identity starts with."""
    attr = crm_attribute(ident)
    if attr is None:
        return None, None
    return (attr[1], None) if attr[0] == "email" else (None, attr[1])


async def resolve_sender_contacts(
    conn: asyncpg.Connection, envs: Sequence[Envelope]
) -> dict[str, tuple[int, str]]:
    """Sender identity key -> (contact id, contact name), creating and linking as the
    rules say. Records each envelope's unverified claims on its contact."""
    senders: dict[str, tuple[Identity, list[Identity], str]] = {}
    for e in envs:
        key = identity_key(e.sender)
        entry = senders.setdefault(key, (e.sender, [], e.sender_name or e.sender.value))
        entry[1].extend(i for i in e.linked if i not in entry[1])
    keys: set[str] = set()
    crm: set[tuple[str, str]] = set()
    for ident, linked, _ in senders.values():
        keys |= lookup_keys(ident, linked)
        attr = crm_attribute(ident)
        if attr:
            crm.add(attr)
    known = await _read_known(conn, keys, crm)
    plans = {k: resolve_sender(s[0], s[1], known) for k, s in sorted(senders.items())}
    await _hold_live_contacts(conn, plans.values())

    # New contacts, one per sender nobody matched; seed_key correlates rows with input.
    new = [k for k, p in plans.items() if p.contact_id is None]
    if new:
        cols = [_seed_columns(senders[k][0]) for k in new]
        created = await conn.fetch(
            "INSERT INTO contacts (name, email, phone, seed_key)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
            " RETURNING id, seed_key",
            [senders[k][2] for k in new], [c[0] for c in cols], [c[1] for c in cols], new,
        )
        by_seed = {r["seed_key"]: r["id"] for r in created}
        for k in new:
            plans[k].contact_id = by_seed[k]

    # Links, sorted by key so concurrent batches take the PK locks in one order. A
    # sender's own key goes to its own plan, even when another sender links it.
    attach: dict[str, int] = {k: p.contact_id for k, p in plans.items()  # type: ignore[misc]
                              if k in p.attach}
    for p in plans.values():
        for k in p.attach:
            attach.setdefault(k, p.contact_id)  # type: ignore[arg-type]
    lost: set[str] = set()
    if attach:
        order = sorted(attach)
        linked_rows = await conn.fetch(
            "INSERT INTO identities (kind, value, contact_id)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])"
            " ON CONFLICT (kind, value) DO NOTHING RETURNING kind, value",
            [k.split(":", 1)[0] for k in order], [k.split(":", 1)[1] for k in order],
            [attach[k] for k in order],
        )
        won = {f"{r['kind']}:{r['value']}" for r in linked_rows}
        lost = {k for k in order if k not in won}
    # A sender whose own key lost a race belongs to whoever won it. A contact we just
    # created for it is folded into the winner (it can hold only links made just now).
    losers = [k for k in plans if k in lost]
    if losers:
        again = await _read_known(conn, set(losers), set())
        folds: list[tuple[int, int]] = []
        for k in losers:
            winner = again.owners[k]
            if plans[k].reason in ("new", "ambiguous") and plans[k].contact_id != winner:
                folds.append((plans[k].contact_id, winner))  # type: ignore[arg-type]
            plans[k].contact_id = winner
        if folds:
            await conn.execute(
                "UPDATE identities i SET contact_id = f.winner"
                " FROM unnest($1::bigint[], $2::bigint[]) AS f(orphan, winner)"
                " WHERE i.contact_id = f.orphan",
                [f[0] for f in folds], [f[1] for f in folds],
            )
            await conn.execute("DELETE FROM contacts WHERE id = ANY($1::bigint[])",
                               [f[0] for f in folds])

    # A pre-chat form's claims are labelled as such for the agent ("unverified
    # (pre-chat form)"); other claims carry their channel.
    claims = sorted({(plans[identity_key(e.sender)].contact_id, c.kind, c.value,
                      "prechat" if e.prechat is not None else e.channel)
                     for e in envs for c in e.claims})
    if claims:
        await conn.execute(
            "INSERT INTO identity_claims (contact_id, kind, value, source)"
            " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])"
            " ON CONFLICT DO NOTHING",
            [c[0] for c in claims], [c[1] for c in claims], [c[2] for c in claims],
            [c[3] for c in claims],
        )
    names = dict(await conn.fetch(
        "SELECT id, name FROM contacts WHERE id = ANY($1::bigint[])",
        list({p.contact_id for p in plans.values()}),
    ))
    out: dict[str, tuple[int, str]] = {}
    for k, p in plans.items():
        assert p.contact_id is not None  # every plan resolved or created above
        out[k] = (p.contact_id, names[p.contact_id])
    return out

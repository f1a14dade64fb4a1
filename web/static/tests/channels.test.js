import assert from "node:assert/strict";
import { test } from "node:test";
import { CHANNEL_LABEL, CHANNEL_SHORT, channelIconName, channelLabel, channelShort } from "../lib/channels.js";

test("every known channel has a long and a short label and an icon", () => {
  assert.deepEqual(Object.keys(CHANNEL_SHORT).sort(), Object.keys(CHANNEL_LABEL).sort());
  for (const c of Object.keys(CHANNEL_LABEL)) {
    assert.ok(channelLabel(c));
    assert.ok(channelShort(c));
    assert.ok(channelIconName(c));
  }
  assert.equal(channelLabel("chat"), "Web chat");
  assert.equal(channelShort("voice"), "Call");
  assert.equal(channelIconName("whatsapp"), "social");
});

test("unknown channels show their raw name, never 'undefined', and prototype keys are not labels", () => {
  assert.equal(channelLabel("fax"), "fax");
  assert.equal(channelShort("fax"), "fax");
  assert.equal(channelLabel(null), "");
  assert.equal(channelLabel("constructor"), "constructor");
  assert.equal(channelIconName("toString"), "social");
});

test("the tables cannot be changed at run time", () => {
  assert.ok(Object.isFrozen(CHANNEL_LABEL));
  assert.ok(Object.isFrozen(CHANNEL_SHORT));
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { clock, codePoints, date, dateTime, dayLabel, duration, fileSize, money, relTime, textSize } from "../lib/format.js";

const NOW = Date.parse("2026-03-12T12:00:00Z");
const ago = (s) => new Date(NOW - s * 1000).toISOString();

test("relTime: now, minutes, hours, days, then a date", () => {
  assert.equal(relTime(ago(10), NOW), "now");
  assert.equal(relTime(ago(5 * 60), NOW), "5m");
  assert.equal(relTime(ago(3 * 3600), NOW), "3h");
  assert.equal(relTime(ago(2 * 86400), NOW), "2d");
  assert.notEqual(relTime(ago(30 * 86400), NOW), "30d");
  assert.ok(relTime(ago(30 * 86400), NOW).length > 0);
  assert.equal(relTime(ago(-60), NOW), "now"); // clock skew: never negative
  assert.equal(relTime("not a date", NOW), "");
  assert.equal(relTime(null, NOW), "");
});

test("duration: seconds, minutes with padded seconds, hours", () => {
  assert.equal(duration(42), "42s");
  assert.equal(duration(185), "3m 05s");
  assert.equal(duration(2 * 3600 + 10 * 60 + 5), "2h 10m");
  assert.equal(duration(-3), "0s");
  assert.equal(duration(Number.NaN), "0s");
});

test("fileSize: B, kB, MB; nothing for nothing", () => {
  assert.equal(fileSize(512), "512 B");
  assert.equal(fileSize(12 * 1024), "12 kB");
  assert.equal(fileSize(3.4 * 1024 * 1024), "3.4 MB");
  assert.equal(fileSize(0), "");
  assert.equal(fileSize("junk"), "");
  assert.equal(fileSize("2048"), "2 kB");
});

test("dates: unparseable input never shows 'Invalid Date'", () => {
  assert.equal(clock("nope"), "");
  assert.equal(date("nope"), "nope");
  assert.equal(date(null), "");
  assert.equal(dayLabel("nope"), "");
  assert.ok(!/Invalid/.test(clock("2026-03-12T10:05:00Z")));
  assert.ok(!/Invalid/.test(date("2026-03-12")));
});

test("dayLabel: Today, Yesterday, else a full date", () => {
  const today = new Date(2026, 2, 12, 15, 0);
  assert.equal(dayLabel(new Date(2026, 2, 12, 8, 0).toISOString(), today), "Today");
  assert.equal(dayLabel(new Date(2026, 2, 11, 23, 0).toISOString(), today), "Yesterday");
  const older = dayLabel(new Date(2026, 2, 1, 9, 0).toISOString(), today);
  assert.ok(older !== "Today" && older !== "Yesterday" && older.includes("2026"));
});

test("money: numbers and numeric strings are formatted, anything else shown as is", () => {
  assert.match(money(12.5), /12[.,]50/);
  assert.match(money("7"), /7[.,]00/);
  assert.equal(money("n/a"), "n/a");
  assert.equal(money(null), "");
});

test("textSize counts code points as the server does and refuses over the limit", () => {
  assert.equal(codePoints("héllo"), 5);
  assert.equal(codePoints("👍👍"), 2); // 4 UTF-16 units
  assert.deepEqual(textSize("abc", 0), { count: 3, near: false, reason: "" }); // limit unknown
  assert.deepEqual(textSize("a".repeat(7), 10), { count: 7, near: false, reason: "" });
  assert.deepEqual(textSize("a".repeat(8), 10), { count: 8, near: true, reason: "" });
  const over = textSize("👍".repeat(11), 10);
  assert.equal(over.count, 11);
  assert.equal(over.reason, "Too long: 11 of at most 10 characters.");
  assert.equal(textSize("a".repeat(12000), 10000).reason, "Too long: 12,000 of at most 10,000 characters.");
  assert.equal(textSize("a".repeat(9), 10, { counterFrom: 0.95 }).near, false);
});

test("textSize refuses a text within the count that would not fit one socket frame", () => {
  const emoji = "\u{1F600}".repeat(1000); // 1000 code points, 4000 UTF-8 bytes
  assert.equal(textSize(emoji, 20000, { frameBytes: 8192 }).reason, "");
  assert.match(textSize(emoji, 20000, { frameBytes: 4096 }).reason, /too large to send/);
  // JSON escaping counts: control characters become \u00XX (6 bytes each).
  assert.match(textSize("\u0001".repeat(700), 20000, { frameBytes: 5000 }).reason, /too large to send/);
});

test("dateTime: locale date and time, nothing for nonsense", () => {
  assert.ok(dateTime("2026-03-12T10:05:00Z").includes("2026"));
  assert.equal(dateTime("nope"), "");
  assert.equal(dateTime(null), "");
});

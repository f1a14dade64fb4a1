// @ts-check
// Channel names as people read them. The one table on the browser side (the hub's is
// its channel capability table); unknown channels show their raw name.

/** @type {Readonly<Record<string, string>>} long label: thread headers, history, titles */
export const CHANNEL_LABEL = Object.freeze({
  chat: "Web chat", api: "API", email: "Email", sms: "SMS", voice: "Phone", bot: "Bot",
  whatsapp: "WhatsApp", messenger: "Messenger", instagram: "Instagram", telegram: "Telegram",
});

/** @type {Readonly<Record<string, string>>} short label: offer cards and the queue board */
export const CHANNEL_SHORT = Object.freeze({
  chat: "Chat", api: "API", email: "Email", sms: "SMS", voice: "Call", bot: "Bot",
  whatsapp: "WhatsApp", messenger: "Messenger", instagram: "Instagram", telegram: "Telegram",
});

/** @type {Readonly<Record<string, string>>} channel -> icon name (lib/… icon tables) */
export const CHANNEL_ICON = Object.freeze({
  chat: "chat", api: "api", email: "email", sms: "sms", voice: "voice", bot: "bot",
  whatsapp: "social", messenger: "social", instagram: "social", telegram: "social",
});

/**
 * @param {string | null | undefined} channel
 * @returns {string}
 */
export function channelLabel(channel) {
  const c = String(channel ?? "");
  return Object.hasOwn(CHANNEL_LABEL, c) ? CHANNEL_LABEL[c] : c;
}

/**
 * @param {string | null | undefined} channel
 * @returns {string}
 */
export function channelShort(channel) {
  const c = String(channel ?? "");
  return Object.hasOwn(CHANNEL_SHORT, c) ? CHANNEL_SHORT[c] : c;
}

/**
 * @param {string | null | undefined} channel
 * @returns {string}
 */
export function channelIconName(channel) {
  const c = String(channel ?? "");
  return Object.hasOwn(CHANNEL_ICON, c) ? CHANNEL_ICON[c] : "social";
}

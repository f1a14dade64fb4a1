// @ts-check
// Files on a reply (email replies and private notes): "Attach" uploads each chosen file
// at once (POST /api/v1/conversations/{id}/uploads, the raw bytes), shows it as a chip
// with its size or the server's reason, and hands the upload ids to the reply. The
// server checks sizes, ownership and the channel again when the reply claims them.

import { el } from "./lib/dom.js";
import { fileSize } from "./lib/format.js";

const CHANNELS = new Set(["email"]);

/** @typedef {{key: string, name: string, size: number, state: "uploading" | "ready" | "failed", id?: number, error?: string}} Upload */

export class Attachments {
  /**
   * ``foot``: the composer's footer; ``conversationId()``: the open conversation.
   * @param {HTMLElement} foot
   * @param {() => number | null} conversationId
   */
  constructor(foot, conversationId) {
    this.conversationId = conversationId;
    /** @type {number | null | undefined} the conversation the items belong to */
    this.forId = undefined;
    /** @type {Upload[]} */
    this.items = [];
    this.input = el("input", { type: "file", multiple: true, hidden: true, "data-testid": "attach-input",
      onchange: () => { for (const f of this.input.files || []) this.upload(f); this.input.value = ""; } });
    this.button = el("button", { type: "button", class: "btn btn-ghost", "data-testid": "attach", text: "Attach",
      title: "Attach files (email replies and private notes)", onclick: () => this.input.click() });
    this.chips = el("div", { class: "attach-chips", "data-testid": "attach-chips" });
    foot.prepend(this.button, this.input);
    /** @type {HTMLElement} */ (foot.parentElement).insertBefore(this.chips, foot);
    this.update(null, false);
  }

  get busy() { return this.items.some((i) => i.state === "uploading"); }

  /** Shown for email conversations and private notes; other channels cannot carry files yet. */
  /**
   * @param {string | null | undefined} channel
   * @param {boolean} privateNote
   */
  update(channel, privateNote) {
    const id = this.conversationId();
    if (id !== this.forId) { // uploads belong to their conversation: start over
      this.forId = id;
      this.items = [];
      this.render();
    }
    const on = privateNote || CHANNELS.has(channel || "");
    this.button.hidden = !on;
    this.chips.hidden = !on || !this.items.length;
  }

  /** The uploaded files' ids for a reply being sent; the chips are cleared. */
  take() {
    const ids = this.items.filter((i) => i.state === "ready").map((i) => /** @type {number} */ (i.id)); // ready: uploaded
    this.items = [];
    this.render();
    return ids;
  }

  /** @param {File} file */
  async upload(file) {
    /** @type {Upload} */
    const item = { key: Math.random().toString(36).slice(2), name: file.name, size: file.size, state: "uploading" };
    this.items.push(item);
    this.render();
    try {
      const res = await fetch(`/api/v1/conversations/${this.conversationId()}/uploads?filename=${encodeURIComponent(file.name)}`, {
        method: "POST", credentials: "same-origin", body: file,
        headers: { "Content-Type": file.type || "application/octet-stream" },
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(data.reason || `HTTP ${res.status}`);
      Object.assign(item, { state: "ready", id: data.upload.id, size: data.upload.size });
    } catch (e) {
      Object.assign(item, { state: "failed", error: /** @type {Error} */ (e).message });
    }
    this.render();
  }

  render() {
    this.chips.replaceChildren(...this.items.map((i) => el("span", {
      class: `attach-chip ${i.state}`, "data-testid": "attach-chip", "data-state": i.state, title: i.error || "",
    }, `${i.name} · ${i.state === "uploading" ? "uploading…" : i.state === "failed" ? i.error : fileSize(i.size)}`,
    el("button", { type: "button", class: "link", "aria-label": `Remove ${i.name}`, text: "×",
      onclick: () => { this.items = this.items.filter((x) => x !== i); this.render(); } }))));
    this.chips.hidden = !this.items.length || this.button.hidden;
  }
}

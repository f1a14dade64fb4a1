// @ts-check
// The widget's own stylesheet (inside its Shadow DOM) and icons: constant markup only.

/**
 * @param {string} color the accent colour (already validated by config.js)
 * @returns {string}
 */
export function widgetCss(color) {
  return `
  :host { all: initial; }
  * { box-sizing: border-box; }
  [hidden] { display: none !important; }
  .root { --c: ${color}; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
    color: #111827; position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; }
  button { font: inherit; cursor: pointer; }
  .bubble { width: 60px; height: 60px; border-radius: 50%; border: 0; background: var(--c); color: #fff;
    display: grid; place-items: center; box-shadow: 0 8px 24px rgba(0,0,0,.22); position: relative;
    transition: transform .15s ease; }
  .bubble:hover { transform: scale(1.06); }
  .bubble:focus-visible, .icon-btn:focus-visible, .send:focus-visible { outline: 3px solid #93c5fd; outline-offset: 2px; }
  .bubble svg { width: 28px; height: 28px; }
  .badge { position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; padding: 0 6px; border-radius: 10px;
    background: #ef4444; color: #fff; font-size: 12px; font-weight: 700; display: grid; place-items: center;
    border: 2px solid #fff; }
  .panel { position: absolute; right: 0; bottom: 76px; width: 370px; max-width: calc(100vw - 32px);
    height: 560px; max-height: calc(100vh - 120px); background: #fff; border-radius: 16px; overflow: hidden;
    box-shadow: 0 16px 48px rgba(0,0,0,.25); display: flex; flex-direction: column;
    transform-origin: bottom right; animation: pop .16s ease-out; }
  .panel[hidden] { display: none; }
  @keyframes pop { from { opacity: 0; transform: scale(.96) translateY(8px); } to { opacity: 1; transform: none; } }
  .head { background: var(--c); color: #fff; padding: 16px 16px 14px; display: flex; align-items: flex-start; gap: 12px; }
  .head .titles { flex: 1; min-width: 0; }
  .head h2 { margin: 0; font-size: 16px; font-weight: 650; }
  .head p { margin: 2px 0 0; font-size: 13px; opacity: .9; }
  .conn { display: inline-flex; align-items: center; gap: 6px; font-size: 12px; opacity: .95; margin-top: 6px; }
  .dot { width: 8px; height: 8px; border-radius: 50%; background: #fbbf24; }
  .conn[data-status=online] .dot { background: #4ade80; }
  .conn[data-status=away] .dot, .conn[data-status=offline] .dot { background: #d1d5db; }
  .conn[data-status=error] .dot { background: #f87171; }
  .icon-btn { background: transparent; border: 0; color: #fff; width: 32px; height: 32px; border-radius: 8px;
    display: grid; place-items: center; }
  .icon-btn:hover { background: rgba(255,255,255,.18); }
  .msgs { flex: 1; overflow-y: auto; padding: 16px 14px 8px; background: #f8fafc; display: flex; flex-direction: column; gap: 6px; }
  .row { display: flex; flex-direction: column; max-width: 82%; }
  .row.in { align-self: flex-end; align-items: flex-end; }
  .row.out { align-self: flex-start; align-items: flex-start; }
  .row.system { align-self: center; max-width: 90%; align-items: center; }
  .who { font-size: 11.5px; color: #6b7280; margin: 4px 4px 2px; }
  .b { padding: 9px 12px; border-radius: 16px; white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word; }
  .in .b { background: var(--c); color: #fff; border-bottom-right-radius: 4px; }
  .out .b { background: #fff; color: #111827; border: 1px solid #e5e7eb; border-bottom-left-radius: 4px; }
  .system .b { background: transparent; color: #6b7280; font-size: 12.5px; text-align: center; padding: 4px 8px; }
  .meta { font-size: 11px; color: #9ca3af; margin: 2px 4px 0; }
  .row.pending .b { opacity: .7; }
  .row.failed .b { background: #fee2e2; color: #991b1b; }
  .meta button { background: none; border: 0; color: #b91c1c; text-decoration: underline; padding: 0; font-size: 11px; }
  .greet { align-self: flex-start; max-width: 82%; }
  .typing { height: 22px; padding: 0 16px; font-size: 12px; color: #6b7280; background: #f8fafc; display: flex; align-items: center; gap: 6px; }
  .typing .dots span { display: inline-block; width: 5px; height: 5px; margin-right: 2px; border-radius: 50%; background: #9ca3af; animation: blink 1.2s infinite; }
  .typing .dots span:nth-child(2) { animation-delay: .2s; } .typing .dots span:nth-child(3) { animation-delay: .4s; }
  @keyframes blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }
  .composer { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e5e7eb; background: #fff; align-items: flex-end; }
  textarea { flex: 1; resize: none; border: 1px solid #d1d5db; border-radius: 12px; padding: 9px 12px; font: inherit; color: inherit;
    max-height: 120px; min-height: 40px; outline: none; background: #fff; }
  textarea:focus { border-color: var(--c); box-shadow: 0 0 0 3px rgba(37,99,235,.15); }
  .send { width: 40px; height: 40px; border-radius: 12px; border: 0; background: var(--c); color: #fff; display: grid; place-items: center; flex: none; }
  .send:disabled { opacity: .45; cursor: default; }
  .err { padding: 8px 14px; background: #fef2f2; color: #991b1b; font-size: 12.5px; border-top: 1px solid #fecaca; }
  .count { padding: 4px 14px 0; font-size: 12px; color: #6b7280; text-align: right; background: #fff; font-variant-numeric: tabular-nums; }
  .count.over { color: #b91c1c; font-weight: 600; }
  .foot { text-align: center; font-size: 11px; color: #9ca3af; padding: 0 0 8px; background: #fff; }
  .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
  @media (max-width: 480px) { .root { right: 12px; bottom: 12px; } .panel { height: calc(100vh - 100px); } }
  @media (prefers-reduced-motion: reduce) { .panel, .bubble { animation: none; transition: none; } }
  `;
}

export const ICON_CHAT =
  '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z"/></svg>';
export const ICON_CLOSE =
  '<svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>';
export const ICON_DOWN =
  '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M6 9l6 6 6-6"/></svg>';
export const ICON_SEND =
  '<svg width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M22 2L11 13"/><path d="M22 2l-7 20-4-9-9-4 20-7z"/></svg>';

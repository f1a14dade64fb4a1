// @ts-check
// Login page: static HTML; show the error box when the backend redirected with ?error=1
// or answered the POST itself with 401 (Navigation Timing's responseStatus, where supported).
(() => {
  // The page's own elements (web/templates/login.html).
  const box = /** @type {HTMLElement} */ (document.getElementById("login-error"));
  const email = /** @type {HTMLInputElement} */ (document.getElementById("email"));
  const submit = () => /** @type {HTMLButtonElement} */ (document.getElementById("login-submit"));
  const params = new URLSearchParams(location.search);
  let failed = params.get("error") === "1";
  try {
    const nav = /** @type {PerformanceNavigationTiming & {responseStatus?: number}} */ (performance.getEntriesByType("navigation")[0]);
    if (nav && nav.responseStatus === 401) failed = true;
  } catch (_) {
    /* older browsers: rely on ?error=1 */
  }
  if (failed) box.hidden = false;
  if (params.get("email")) email.value = params.get("email") || "";
  /** @type {HTMLFormElement} */ (document.getElementById("login-form")).addEventListener("submit", () => {
    const b = submit();
    b.disabled = true;
    b.textContent = "Signing in…";
  });
  // Re-enable the button when the page is restored from the back/forward cache.
  window.addEventListener("pageshow", () => {
    const b = submit();
    b.disabled = false;
    b.textContent = "Sign in";
  });
})();

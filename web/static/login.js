// Login page: static HTML; show the error box when the backend redirected with ?error=1
// or answered the POST itself with 401 (Navigation Timing's responseStatus, where supported).
(() => {
  const box = document.getElementById("login-error");
  const params = new URLSearchParams(location.search);
  let failed = params.get("error") === "1";
  try {
    const nav = performance.getEntriesByType("navigation")[0];
    if (nav && nav.responseStatus === 401) failed = true;
  } catch (_) {
    /* older browsers: rely on ?error=1 */
  }
  if (failed) box.hidden = false;
  const email = document.getElementById("email");
  if (params.get("email")) email.value = params.get("email");
  document.getElementById("login-form").addEventListener("submit", () => {
    const b = document.getElementById("login-submit");
    b.disabled = true;
    b.textContent = "Signing in…";
  });
  // Re-enable the button when the page is restored from the back/forward cache.
  window.addEventListener("pageshow", () => {
    const b = document.getElementById("login-submit");
    b.disabled = false;
    b.textContent = "Sign in";
  });
})();

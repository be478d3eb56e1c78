// Refreshes the page in place every 2 s: the server renders everything, this only swaps <main>.
"use strict";
async function refresh() {
  try {
    const response = await fetch("/", { cache: "no-store" });
    if (response.ok) {
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("main");
      if (fresh) {
        document.getElementById("main").replaceWith(fresh);
        document.title = page.title;
        // How many times the page was refreshed in place (the browser test reads it).
        document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
      }
    }
  } catch (e) {
    // The daemon restarting: keep the last page and try again.
  }
  setTimeout(refresh, 2000);
}
setTimeout(refresh, 2000);

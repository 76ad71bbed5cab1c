// The popup works without JavaScript; this only prevents double submits and closes the
// window after a cancel (the official button has no cancel callback).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.submitting) { event.preventDefault(); return; }
  form.dataset.submitting = "1";
});
if (document.querySelector("[data-close-window]")) {
  setTimeout(() => window.close(), 1500);
}

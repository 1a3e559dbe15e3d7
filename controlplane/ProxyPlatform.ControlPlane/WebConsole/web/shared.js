// State shared by the shell and the pages.
export const state = { operator: false, tenants: [] };

export function showBanner(message, kind = 'error') {
  const banner = document.getElementById('banner');
  if (!message) { banner.hidden = true; banner.textContent = ''; return; }
  banner.className = `banner banner-${kind}`;
  banner.textContent = message;
  banner.hidden = false;
}

// Start: take a #token=… link, wire the forms, route, and tick countdowns every second.

byId("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = byId("token").value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  byId("token").value = "";
  route();
});

byId("signout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
});

startSearch();
startReports();
takeTokenFromFragment();
window.addEventListener("hashchange", route);
setInterval(tickCountdowns, 1000);
if (sessionStorage.getItem(TOKEN_KEY)) route();
else showLogin();

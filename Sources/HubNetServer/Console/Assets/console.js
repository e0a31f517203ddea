// HubNet console: the little the pages need beyond HTML. Without JavaScript every page still works.
// Forms with data-confirm ask before they submit (decline, withdraw, sign out everywhere).
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) { event.preventDefault(); }
});

// Live refresh: pages that show leads listen to the tenant's change pokes (server-sent events) and
// offer a refresh; they never reload under someone's typing.
(function () {
  var source = document.body && document.body.getAttribute("data-live");
  if (!source || !window.EventSource) { return; }
  var notice = document.getElementById("live-notice");
  var link = document.getElementById("live-refresh");
  if (link) { link.setAttribute("href", window.location.pathname + window.location.search); }
  var events = new EventSource(source);
  events.addEventListener("poke", function () {
    if (notice) { notice.hidden = false; }
  });
})();

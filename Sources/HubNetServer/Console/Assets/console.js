// HubNet console: the little the pages need beyond HTML. Without JavaScript every page still works.
// Forms with data-confirm ask before they submit (decline, withdraw, sign out everywhere).
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) { event.preventDefault(); }
});

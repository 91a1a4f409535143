// Progressive enhancement: hide questions whose show_if condition is not met.
// Without JavaScript every question is shown and the server ignores hidden ones.
(function () {
  var form = document.querySelector('form[action^="/s/"]');
  if (!form) return;
  var dependents = form.querySelectorAll('[data-show-if]');
  function chosen(name) {
    var values = [];
    form.querySelectorAll('input[name="' + name + '"]:checked').forEach(function (i) { values.push(i.value); });
    return values;
  }
  function refresh() {
    dependents.forEach(function (block) {
      var wanted = block.getAttribute('data-show-in').split(' ');
      var visible = chosen(block.getAttribute('data-show-if')).some(function (v) { return wanted.indexOf(v) >= 0; });
      block.hidden = !visible;
      block.querySelectorAll('input,textarea').forEach(function (i) { i.disabled = !visible; });
    });
  }
  form.addEventListener('change', refresh);
  refresh();
  var summary = document.getElementById('error-summary');
  if (summary) summary.focus();
})();

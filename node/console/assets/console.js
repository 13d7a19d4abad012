// hfx console: a little progressive JavaScript. Every page works without it; with it, id
// numbers are checked (GB 11643 check digit, birth date) before a form is sent, and the error
// names the field.
"use strict";
(function () {
  var W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var C = "10X98765432";
  function validDate(y, m, d) {
    var t = new Date(Date.UTC(y, m - 1, d));
    return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d && t <= new Date();
  }
  function gb11643(v) {
    v = v.trim().toUpperCase();
    if (/^[0-9]{15}$/.test(v)) {
      return validDate(1900 + +v.slice(6, 8), +v.slice(8, 10), +v.slice(10, 12));
    }
    if (!/^[0-9]{17}[0-9X]$/.test(v)) return false;
    if (!validDate(+v.slice(6, 10), +v.slice(10, 12), +v.slice(12, 14))) return false;
    var s = 0;
    for (var i = 0; i < 17; i++) s += (+v[i]) * W[i];
    return C[s % 11] === v[17];
  }
  // Only a resident id card number (id type 01, or a form without an id type) has a check
  // digit; a passport or other document is checked on the node.
  function residentId(input) {
    var t = input.form && input.form.querySelector('[name="id_type"]');
    return !t || t.value === "" || t.value === "01";
  }
  function check(input) {
    var ok = input.value === "" || !residentId(input) || gb11643(input.value);
    input.setCustomValidity(ok ? "" : (input.dataset.field || "") + "：" + (input.dataset.msg || "invalid"));
    var out = document.getElementById(input.id + "-error");
    if (out) out.textContent = ok ? "" : input.validationMessage;
    input.setAttribute("aria-invalid", ok ? "false" : "true");
    return ok;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var inputs = document.querySelectorAll('input[data-check="gb11643"]');
    inputs.forEach(function (input) {
      input.addEventListener("input", function () { check(input); });
      input.addEventListener("blur", function () { check(input); });
      var t = input.form && input.form.querySelector('[name="id_type"]');
      if (t) t.addEventListener("change", function () { check(input); });
    });
    document.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        var bad = false;
        form.querySelectorAll('input[data-check="gb11643"]').forEach(function (i) { if (!check(i)) bad = true; });
        if (bad) { e.preventDefault(); form.reportValidity(); }
      });
    });
    document.querySelectorAll("button[data-print]").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
  });
})();

/* recsys for Koha: "Readers also borrowed" on the OPAC record page (opac-detail.pl).
 * Paste into the system preference OPACUserJS, or have a plugin's opac_js hook return it inside
 * a script element. Replace https://recsys.example.org/ with your recsys service. Koha
 * writes the record's biblionumber on #catalogue_detail_biblio (data-biblionumber) and, in every
 * version, in the unAPI tag <abbr class="unapi-id" title="koha:biblionumber:N">. */
(function () {
  var RECSYS = "https://recsys.example.org/";
  if (document.body.id !== "opac-detail") {
    return;
  }
  var detail = document.getElementById("catalogue_detail_biblio");
  var unapi = document.querySelector("abbr.unapi-id");
  var biblionumber = (detail && detail.getAttribute("data-biblionumber")) ||
    (unapi && (/^koha:biblionumber:(\d+)$/.exec(unapi.title) || [])[1]);
  if (!biblionumber) {
    return;
  }
  var list = document.createElement("div");
  list.className = "recsys-list";
  list.setAttribute("data-book-id", biblionumber);
  list.setAttribute("data-k", "6");
  var after = document.getElementById("bibliodescriptions") || detail || unapi;
  after.parentNode.insertBefore(list, after.nextSibling);
  var widget = document.createElement("script");
  widget.src = RECSYS + "widget.js";
  document.body.appendChild(widget);
})();

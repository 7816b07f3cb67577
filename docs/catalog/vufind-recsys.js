/* recsys for VuFind: "Readers also borrowed" on the record page (record/view.phtml).
 * Save as themes/<your theme>/js/recsys.js and list it in that theme's theme.config.php:
 *     'js' => [['file' => 'recsys.js', 'priority' => 900]],
 * Replace https://recsys.example.org/ with your recsys service. VuFind writes the record id in
 * <input type="hidden" class="hiddenId"> inside div.record, and its backend in .hiddenSource;
 * only records from your own index (Solr) carry your catalog's ids. */
(function () {
  var RECSYS = "https://recsys.example.org/";

  function addList() {
    var record = document.querySelector("div.record");
    var id = record && record.querySelector("input.hiddenId");
    var source = record && record.querySelector("input.hiddenSource");
    if (!id || !id.value || (source && source.value !== "Solr")) {
      return;
    }
    var list = document.createElement("div");
    list.className = "recsys-list";
    list.setAttribute("data-book-id", id.value);
    list.setAttribute("data-k", "6");
    var tabs = record.querySelector(".record-tabs");
    var body = id.parentNode;
    body.insertBefore(list, tabs ? tabs.nextSibling : null);
    var widget = document.createElement("script");
    widget.src = RECSYS + "widget.js";
    document.head.appendChild(widget);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", addList);
  } else {
    addList();
  }
})();

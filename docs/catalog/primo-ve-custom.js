/* recsys for Primo VE: "Readers also borrowed" in the full record display.
 * Add the component below to js/custom.js of your view's customization package (if custom.js
 * already declares `app`, keep one `angular.module('viewCustom', ['angularLoad'])` and add only
 * the component), then upload the package. Replace https://recsys.example.org/ with your recsys
 * service. Primo VE hands the record to prmFullViewAfter as parentCtrl.item; for Alma records
 * pnx.display.mms holds the MMS id, the id your loans export uses. */
(function () {
  "use strict";
  var RECSYS = "https://recsys.example.org/";
  var app = angular.module("viewCustom", ["angularLoad"]);

  app.component("prmFullViewAfter", {
    bindings: {parentCtrl: "<"},
    controller: ["$element", function ($element) {
      var ctrl = this;
      ctrl.$postLink = function () {
        var pnx = ctrl.parentCtrl && ctrl.parentCtrl.item && ctrl.parentCtrl.item.pnx;
        var mms = pnx && ((pnx.display && pnx.display.mms) ||
          (pnx.control && pnx.control.sourcerecordid) || [])[0];
        if (!mms) {
          return;
        }
        var list = document.createElement("div");
        list.className = "recsys-list";
        list.setAttribute("data-book-id", mms);
        list.setAttribute("data-k", "6");
        var lang = new URLSearchParams(window.location.search).get("lang");
        if (lang) {
          list.setAttribute("data-lang", lang);
        }
        $element[0].appendChild(list);
        if (!document.querySelector("script[data-recsys]")) {
          var widget = document.createElement("script");
          widget.src = RECSYS + "widget.js";
          widget.setAttribute("data-recsys", "");
          document.head.appendChild(widget);
        }
      };
    }]
  });
})();

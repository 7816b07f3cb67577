/* A stand-in for Primo VE's own code in the recipe test: the module the customization package
 * depends on (angularLoad), and a prm-full-view showing one Alma record and rendering the
 * prm-full-view-after hook with the record's controller as parent-ctrl, as Primo VE does. */
(function () {
  "use strict";
  angular.module("angularLoad", []);
  angular.module("primoExplore", ["viewCustom"]).component("prmFullView", {
    controller: function () {
      this.item = {
        pnx: {
          control: {recordid: ["alma9910100000003606"], sourcerecordid: ["9910100000003606"]},
          display: {title: ["History tale 1"], creator: ["Author 11"], mms: ["9910100000003606"]}
        }
      };
    },
    template: '<h2 class="item-title">{{$ctrl.item.pnx.display.title[0]}}</h2>' +
      '<prm-full-view-after parent-ctrl="$ctrl"></prm-full-view-after>'
  });
  document.addEventListener("DOMContentLoaded", function () {
    angular.bootstrap(document.querySelector("primo-explore"), ["primoExplore"]);
  });
})();

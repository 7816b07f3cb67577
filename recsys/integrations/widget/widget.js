/* recsys catalog widget, served by the recsys service as /widget.js.
 * A page embeds it with <div class="recsys-list" data-book-id="B123" data-k="6"></div> and
 * <script src="https://recsys.example.org/widget.js" defer></script>; README.md, section "Adding
 * recommendations to your catalog", lists the attributes. It fills each container with a heading
 * and a list, or leaves it empty (and the console untouched) when the service is down, slow or
 * answers an error. It never evaluates code, writes no style attribute and sets no cookie. */
(function () {
  "use strict";
  var config = __RECSYS_CONFIG__;
  var script = document.currentScript;
  if (!script || window.recsysWidgetLoaded || !window.fetch || !window.AbortController ||
      !window.MutationObserver || !Element.prototype.replaceChildren) {
    return; /* loaded twice, or a browser too old to show lists: the page stays as it is */
  }
  window.recsysWidgetLoaded = true;
  var base = script.src.replace(/widget\.js(?:[?#].*)?$/, "");
  var VIEWED = "recsys:viewed";
  var MAX_VIEWED = 20;
  var MAX_K = 20;
  var LABELS = {
    en: ["Readers also borrowed", "Suggestions from your visit", "Popular at the library"],
    de: ["Leser liehen auch aus", "Vorschläge zu Ihrem Besuch", "Beliebt in der Bibliothek"],
    fr: ["Les lecteurs ont aussi emprunté", "Suggestions d'après votre visite",
      "Populaires à la bibliothèque"],
    zh: ["读者还借阅了", "根据您的浏览推荐", "图书馆热门图书"],
    "zh-Hant": ["讀者還借閱了", "根據您的瀏覽推薦", "圖書館熱門圖書"]
  };
  var MODES = ["similar", "session", "popular"];
  var current = new WeakMap();
  var headings = 0;
  var stylesheet = null;

  mark("recsys:start");

  function mark(name) {
    if (window.performance && performance.mark) {
      performance.mark(name);
    }
  }

  function whole(text, low, high, fallback) {
    var n = parseInt(text, 10);
    return n >= low && n <= high ? n : fallback;
  }

  function language(el) {
    var holder = el.closest("[lang]");
    var tag = (el.dataset.lang || (holder && holder.lang) || "en").toLowerCase();
    if (tag.indexOf("zh") === 0) {
      return /hant|-tw|-hk|-mo/.test(tag) ? "zh-Hant" : "zh";
    }
    tag = tag.split("-")[0];
    return LABELS[tag] ? tag : "en";
  }

  function optionsOf(el) {
    var d = el.dataset;
    return {
      mode: d.mode || "similar",
      book: d.bookId || "",
      k: whole(d.k, 1, MAX_K, 6),
      level: whole(d.headingLevel, 1, 6, 2),
      heading: d.heading || "",
      lang: language(el),
      library: d.library || "",
      audience: d.audience || "",
      period: d.period || ""
    };
  }

  function viewed() {
    try {
      var books = JSON.parse(sessionStorage.getItem(VIEWED) || "[]");
      return Array.isArray(books) ? books.filter(function (b) { return typeof b === "string"; }) : [];
    } catch (error) {
      return [];
    }
  }

  function remember(book) {
    if (!book) {
      return;
    }
    var books = viewed().filter(function (b) { return b !== book; });
    books.push(book);
    try {
      sessionStorage.setItem(VIEWED, JSON.stringify(books.slice(-MAX_VIEWED)));
    } catch (error) {
      /* storage disabled or full: session lists simply use fewer books */
    }
  }

  function query(pairs) {
    var params = new URLSearchParams();
    pairs.forEach(function (pair) {
      if (pair[1]) {
        params.append(pair[0], pair[1]);
      }
    });
    return params.toString();
  }

  function request(o) {
    var filters = [["library", o.library], ["audience", o.audience]];
    if (o.mode === "similar") {
      return o.book && [base + "books/" + encodeURIComponent(o.book) + "/similar?" +
        query([["k", String(o.k)]].concat(filters)), {}];
    }
    if (o.mode === "popular") {
      return [base + "popular?" + query([["k", String(o.k)], ["period", o.period]].concat(filters)),
        {}];
    }
    var books = viewed();
    if (!books.length) {
      return null;
    }
    var body = {book_ids: books, k: o.k};
    filters.forEach(function (pair) {
      if (pair[1]) {
        body[pair[0]] = pair[1];
      }
    });
    return [base + "sessions/recommendations", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body)
    }];
  }

  function styled() {
    if (!stylesheet) {
      var href = base + "widget.css";
      var link = Array.prototype.filter.call(
        document.querySelectorAll("link[rel~=stylesheet]"),
        function (l) { return l.href === href; }
      )[0];
      stylesheet = link && link.sheet ? Promise.resolve() : new Promise(function (done) {
        if (!link) {
          link = document.createElement("link");
          link.rel = "stylesheet";
          link.href = href;
          document.head.appendChild(link);
        }
        link.addEventListener("load", done);
        link.addEventListener("error", done);
        setTimeout(done, config.timeout);
      });
    }
    return stylesheet;
  }

  function url(template, book) {
    if (!template) {
      return "";
    }
    var href = new URL(template.split("{book_id}").join(encodeURIComponent(book)),
      document.baseURI);
    return href.protocol === "https:" || href.protocol === "http:" ? href.href : "";
  }

  function text(tag, className, value) {
    var node = document.createElement(tag);
    node.className = className;
    node.textContent = value;
    return node;
  }

  function render(el, o, items) {
    var heading = text("h" + o.level, "recsys-list__heading",
      o.heading || LABELS[o.lang][MODES.indexOf(o.mode)]);
    heading.id = "recsys-list-heading-" + (++headings);
    if (!o.heading) {
      heading.lang = o.lang;
    }
    var list = document.createElement("ul");
    list.className = "recsys-list__items";
    list.setAttribute("aria-labelledby", heading.id);
    items.forEach(function (item) {
      var href = url(config.record, item.book_id);
      var entry = document.createElement(href ? "a" : "div");
      entry.className = "recsys-list__entry";
      if (href) {
        entry.href = href;
      }
      if (config.cover) {
        var cover = document.createElement("img");
        cover.className = "recsys-list__cover";
        cover.alt = "";
        cover.loading = "lazy";
        cover.decoding = "async";
        cover.src = url(config.cover, item.book_id);
        entry.appendChild(cover);
      }
      entry.appendChild(text("span", "recsys-list__title", item.title || item.book_id));
      if (item.author) {
        entry.appendChild(text("span", "recsys-list__author", item.author));
      }
      var row = document.createElement("li");
      row.className = "recsys-list__item";
      row.appendChild(entry);
      list.appendChild(row);
    });
    if (!config.record) {
      list.tabIndex = 0; /* the row scrolls: keyboard users need a stop even without links */
    }
    el.replaceChildren(heading, list);
    el.setAttribute("data-recsys-state", "ready");
    mark("recsys:rendered");
  }

  function start(el) {
    if (!el.classList || !el.classList.contains("recsys-list")) {
      return;
    }
    var o = optionsOf(el);
    var key = JSON.stringify(o);
    if (current.get(el) === key || MODES.indexOf(o.mode) < 0) {
      return; /* another mode (such as a personal list a server rendered) is not ours */
    }
    current.set(el, key);
    remember(o.book);
    el.replaceChildren();
    var call = request(o);
    if (!call) {
      el.setAttribute("data-recsys-state", "empty");
      return;
    }
    el.setAttribute("data-recsys-state", "loading");
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, config.timeout);
    call[1].signal = controller.signal;
    call[1].credentials = "omit";
    var answer = fetch(call[0], call[1]).then(function (response) {
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      return response.json();
    });
    Promise.all([answer, styled()]).then(function (done) {
      var items = (done[0] && Array.isArray(done[0].items) ? done[0].items : []).slice(0, o.k);
      if (current.get(el) !== key) {
        return;
      }
      if (items.length) {
        render(el, o, items);
      } else {
        el.setAttribute("data-recsys-state", "empty");
      }
    }).catch(function () {
      if (current.get(el) === key) {
        el.setAttribute("data-recsys-state", "failed");
      }
    }).then(function () {
      clearTimeout(timer);
    });
  }

  function scan(root) {
    var found = root.querySelectorAll ? Array.prototype.slice.call(
      root.querySelectorAll(".recsys-list")) : [];
    if (root.matches && root.matches(".recsys-list")) {
      found.unshift(root);
    }
    found.forEach(function (el) { remember(el.dataset.bookId); });
    found.forEach(start);
  }

  new MutationObserver(function (records) {
    records.forEach(function (record) {
      if (record.type === "attributes") {
        start(record.target);
      } else {
        record.addedNodes.forEach(scan);
      }
    });
  }).observe(document.documentElement, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ["data-book-id", "data-mode", "data-k", "data-lang", "data-library",
      "data-audience", "data-period", "data-heading", "data-heading-level"]
  });
  scan(document);
})();

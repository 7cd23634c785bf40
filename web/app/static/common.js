// The booth's WebAssembly, loaded once per page, and what the pages share: calling it, showing problems,
// offering files. No third-party code; the WebAssembly's integrity is pinned by the page (Subresource Integrity).
"use strict";
(function () {
  const script = document.getElementById("common-script");
  const integrity = script ? script.dataset.wasmIntegrity : "";

  // ready resolves once the WebAssembly has set globalThis.recountBooth.
  const ready = new Promise(function (resolve, reject) {
    window.addEventListener("recountbooth", function () { resolve(globalThis.recountBooth); }, { once: true });
    const go = new Go();
    const started = performance.now();
    WebAssembly.instantiateStreaming(fetch("/static/booth.wasm", { integrity: integrity }), go.importObject)
      .then(function (r) {
        window.recountTimings = { wasmLoadMillis: performance.now() - started };
        go.run(r.instance);
      })
      .catch(reject);
  });

  // The largest checkpoint of each board this browser has seen and checked, kept across visits: the booth takes it
  // back first, so that a node cannot roll its board back, or show another history, between two visits.
  const seenKey = "recount.seen";
  function loadSeen() {
    try { return JSON.parse(localStorage.getItem(seenKey) || "{}") || {}; } catch (e) { return {}; }
  }
  function saveSeen(booth) {
    return booth.seen().then(function (json) {
      const s = JSON.parse(json);
      if (!s) return;
      const all = loadSeen();
      all[s.boardKey] = s;
      try { localStorage.setItem(seenKey, JSON.stringify(all)); } catch (e) { /* storage off: this visit only */ }
    });
  }
  const restored = ready.then(function (booth) {
    return booth.election().then(function (json) {
      const s = loadSeen()[JSON.parse(json).boardKey];
      return s ? booth.restoreSeen(JSON.stringify(s)) : "false";
    }, function () { return "false"; }).then(function () { return booth; }, function (problem) { throw { problem: problem }; });
  });

  // call runs one of the booth's functions and resolves with its answer; it rejects with a problem
  // {message, detail}.
  function call(name) {
    const args = Array.prototype.slice.call(arguments, 1);
    return restored.then(function (booth) {
      // Let the browser paint "working…" before the WebAssembly takes the thread.
      return new Promise(function (r) { setTimeout(r, 20); }).then(function () { return booth[name].apply(null, args); })
        .then(function (json) { return saveSeen(booth).then(function () { return json; }, function () { return json; }); });
    }, function (err) {
      if (err && err.problem) throw err.problem; // the board this browser saw before is not the one shown now
      throw JSON.stringify({ message: "This browser could not start the voting booth. Use a recent browser, with JavaScript and WebAssembly on.", detail: String(err) });
    }).then(function (json) { return JSON.parse(json); }, function (err) {
      let p;
      try { p = JSON.parse(err); } catch (e) { p = { message: "Something went wrong.", detail: String(err) }; }
      throw p;
    });
  }

  // showProblem shows a problem in el (a role=alert box): the message, and the detail folded.
  function showProblem(el, p) {
    el.replaceChildren();
    const m = document.createElement("p");
    m.textContent = p.message || String(p);
    el.appendChild(m);
    if (p.detail) {
      const d = document.createElement("details");
      const s = document.createElement("summary");
      s.textContent = "Technical detail";
      const t = document.createElement("p");
      t.className = "small wrap";
      t.textContent = p.detail;
      d.append(s, t);
      el.appendChild(d);
    }
    el.hidden = false;
  }

  // offerFile makes link a download of text.
  function offerFile(link, text) {
    if (link.href && link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  }

  // readFile resolves with a file input's first file as text ("" without one).
  function readFile(input) {
    const f = input.files && input.files[0];
    if (!f) return Promise.resolve("");
    if (f.size > 1 << 20) return Promise.reject({ message: "This file is too large to be a Recount file." });
    return f.text();
  }

  // show reveals el and moves the keyboard focus to it, so that a screen reader reads it.
  function show(el) {
    el.hidden = false;
    el.focus();
  }

  window.recount = { ready: ready, call: call, showProblem: showProblem, offerFile: offerFile, readFile: readFile, show: show };
})();

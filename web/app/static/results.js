// The results: the RESULT entry found at the end of the board and proved in its signed checkpoint, in the
// WebAssembly; a table and a bar chart per contest. Until the result is published, it looks again every few
// seconds.
"use strict";
(function () {
  const R = window.recount;
  const $ = function (id) { return document.getElementById(id); };
  const words = { empty: "No election yet.", setup: "The election is being set up.", open: "The polls are open: the result comes after they close.",
    closed: "The polls are closed: the tally is being computed.", tallying: "The trustees are decrypting the result." };

  function show(r) {
    $("loading").hidden = true;
    if (!r.published) {
      $("pending").hidden = false;
      $("pending").textContent = (words[r.phase] || "") + " This page updates itself.";
      setTimeout(load, 4000);
      return;
    }
    $("pending").hidden = true;
    $("summary").textContent = (r.counted ? (r.counted === 1 ? "1 ballot" : r.counted + " ballots") + " counted (one per voter). " : "") + "Decrypted by trustees " + r.trustees.join(", ") + ".";
    const box = $("contests");
    box.replaceChildren();
    r.contests.forEach(function (c, ci) {
      const sec = document.createElement("section");
      sec.setAttribute("aria-labelledby", "res-h-" + ci);
      const h = document.createElement("h2");
      h.id = "res-h-" + ci;
      h.textContent = c.title;
      const table = document.createElement("table");
      table.className = "results";
      const cap = document.createElement("caption");
      cap.className = "visually-hidden";
      cap.textContent = "Result of " + c.title;
      const head = document.createElement("thead");
      const hr = document.createElement("tr");
      ["Option", "Count", "Chart"].forEach(function (t, i) {
        const th = document.createElement("th");
        th.scope = "col";
        th.textContent = t;
        if (i === 2) th.setAttribute("aria-hidden", "true");
        hr.appendChild(th);
      });
      head.appendChild(hr);
      const body = document.createElement("tbody");
      const max = Math.max(1, ...c.options.map(function (o) { return Number(o.count); }));
      c.options.forEach(function (o) {
        const tr = document.createElement("tr");
        const th = document.createElement("th");
        th.scope = "row";
        th.textContent = o.title;
        const td = document.createElement("td");
        td.className = "num";
        td.textContent = String(o.count);
        const bar = document.createElement("td");
        bar.setAttribute("aria-hidden", "true");
        const fill = document.createElement("div");
        fill.className = "bar";
        fill.style.width = (100 * Number(o.count) / max).toFixed(1) + "%";
        bar.appendChild(fill);
        tr.append(th, td, bar);
        body.appendChild(tr);
      });
      table.append(cap, head, body);
      sec.append(h, table);
      box.appendChild(sec);
    });
    if (r.witnessed) {
      $("summary").textContent += " The board holding the result is " + r.witnessed + " (the witnesses' signatures checked in this page against the election's witness policy, fingerprint " + r.policyFingerprint + ").";
    } else if (r.cosignedBy && r.cosignedBy.length) {
      $("summary").textContent += " The board holding the result is co-signed by " + r.cosignedBy.join(", ") + ": witnesses (observers among them) that vouch for it.";
    }
    $("proof").textContent = "The result is entry " + r.index + " of the board, proved in its signed checkpoint of " + r.treeSize + " entries (board " + r.boardFingerprint + "). This page did not recheck the decryption: the election record's verification does." + (r.cosignedBy && r.cosignedBy.length ? " The page checked the board's signature of the co-signed checkpoint, not the co-signatures, which need the election's witness policy: recount verify --witness-policy checks them." : "");
    $("results").hidden = false;
    document.body.dataset.published = "true";
  }

  function load() {
    R.call("results").then(show, function (p) { $("loading").hidden = true; R.showProblem($("problem"), p); setTimeout(load, 8000); });
  }
  load();
})();

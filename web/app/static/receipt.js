// The receipt check: a tracking code or a receipt file, proved against the board in the WebAssembly.
"use strict";
(function () {
  const R = window.recount;
  const $ = function (id) { return document.getElementById(id); };
  const problem = $("problem");
  R.ready.then(function () { $("loading").hidden = true; $("form").hidden = false; },
    function (e) { $("loading").hidden = true; R.showProblem(problem, { message: "This browser could not start the checker. Use a recent browser, with JavaScript and WebAssembly on.", detail: String(e) }); });

  const verdicts = {
    counted: ["Counted", "Your ballot is on the board and was counted in the result."],
    cast: ["Recorded", "Your ballot is on the board. It will count if it is still your latest ballot when the polls close."],
    superseded: ["Replaced by a later ballot", "This ballot is on the board, but a later ballot cast with the same credential replaced it (entry %N): only the latest one counts. If you did not vote again, tell the election's officials."],
    challenged: ["Challenged", "This ballot was challenged (opened to check the encryption): it is on the board and never counts."],
    "not counted": ["Not counted", "This ballot is on the board but was not counted. Tell the election's officials."],
  };

  $("check").addEventListener("click", function () {
    problem.hidden = true;
    $("verdict").hidden = true;
    const b = $("check");
    b.disabled = true;
    $("check-status").textContent = "Fetching the proofs and checking them…";
    R.readFile($("file")).then(function (text) {
      text = text || $("code").value;
      if (!text.trim()) throw { message: "Type the tracking code, or choose the receipt file." };
      return R.call("checkReceipt", text);
    }).then(function (v) {
      const w = verdicts[v.status] || ["Status unknown", "The server gave a status this page does not know."];
      $("verdict-h").textContent = w[0];
      $("verdict-text").textContent = w[1].replace("%N", String(v.supersededBy)) + " The page checked the board's signature and the proof that this ballot is entry " + v.index + " on it.";
      $("v-tracking").textContent = v.trackingCode;
      $("v-index").textContent = String(v.index);
      $("v-size").textContent = v.treeSize + " entries";
      $("v-root").textContent = v.root;
      $("v-board").textContent = v.boardFingerprint;
      $("v-extends").textContent = v.extends ? "yes, proved" : "not checked (a tracking code alone has no earlier checkpoint)";
      document.body.dataset.status = v.status;
      $("check-status").textContent = "";
      R.show($("verdict"));
    }, function (p) { $("check-status").textContent = ""; R.showProblem(problem, p); }).finally(function () { b.disabled = false; });
  });
})();

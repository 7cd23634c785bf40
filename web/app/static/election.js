// The election page: the status and the board's latest checkpoint, read again every few seconds.
"use strict";
(function () {
  const phases = {
    PHASE_EMPTY: "No election yet",
    PHASE_SETUP: "Being set up: credentials and the trustees' key ceremony",
    PHASE_OPEN: "Open: the polls are open",
    PHASE_CLOSED: "Closed: the polls are closed",
    PHASE_TALLYING: "Tallying: the trustees are decrypting the result",
    PHASE_DONE: "Tallied: the result is published",
  };
  const $ = function (id) { return document.getElementById(id); };
  if (!$("phase")) return;

  function get(path) {
    return fetch("/api/v1/" + path, { cache: "no-store" }).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw j; return j; });
    });
  }

  // parseNote reads a signed note (docs/board.md): the checkpoint's origin, size and root hash, and the names on
  // its signature lines.
  function parseNote(b64) {
    const text = new TextDecoder().decode(Uint8Array.from(atob(b64 || ""), function (c) { return c.charCodeAt(0); }));
    const [body, sigs] = text.split("\n\n");
    const lines = (body || "").split("\n");
    const names = (sigs || "").split("\n").filter(function (l) { return l.startsWith("\u2014 "); }).map(function (l) { return l.split(" ")[1]; });
    return { origin: lines[0] || "", size: lines[1] || "0", root: lines[2] || "", names: names };
  }

  // status is optional: an observer's copy serves the election and its board, not the node's status.
  function update() {
    Promise.all([get("election"), get("status").catch(function () { return null; }), get("checkpoint")]).then(function (r) {
      const el = r[0], st = r[1], cp = r[2];
      $("phase").textContent = phases[el.phase] || el.phase || "unknown";
      const count = function (v) { return st ? String(Number(v || 0)) : "(not served here)"; };
      $("ballots").textContent = count(st && st.ballotsCast);
      $("voters").textContent = count(st && st.voters);
      $("spoiled").textContent = count(st && st.spoiled);
      const n = parseNote(cp.checkpoint);
      $("cp-size").textContent = n.size;
      $("cp-root").textContent = n.root;
      $("cp-origin").textContent = n.origin;
      const quorum = st && st.witnessing ? st.witnessing.quorum : "";
      if (cp.cosignedCheckpoint) {
        const w = parseNote(cp.cosignedCheckpoint);
        const names = w.names.filter(function (x) { return x !== n.origin; });
        $("cp-witnesses").textContent = names.join(", ") + " (checkpoint of " + w.size + " entries" + (quorum ? "; policy: " + quorum : "") + ")";
      } else {
        $("cp-witnesses").textContent = quorum ? "not yet (policy: " + quorum + ")" : "none";
      }
      $("updated").textContent = "Updated " + new Date().toLocaleTimeString() + "; this page updates itself every few seconds.";
    }).catch(function (e) {
      $("updated").textContent = "Could not reach the election server (" + (e.message || e) + "); trying again.";
    });
  }
  update();
  setInterval(update, 3000);
})();

// The voting booth: credential, choices with each contest's rule enforced, encryption in the WebAssembly,
// Benaloh challenge, cast, and "recorded" only once the receipt's proofs are checked.
"use strict";
(function () {
  const R = window.recount;
  const $ = function (id) { return document.getElementById(id); };
  const problem = $("problem");
  let contests = [];
  let choices = null; // the choices encrypted last

  function fail(p) { R.showProblem(problem, p); problem.scrollIntoView({ block: "nearest" }); }
  function clearProblem() { problem.hidden = true; problem.replaceChildren(); }
  function busy(button, on) { button.disabled = on; button.setAttribute("aria-busy", on ? "true" : "false"); }

  R.call("election").then(function (e) {
    $("loading").hidden = true;
    contests = e.contests;
    if (e.phase !== "open") {
      fail({ message: e.phase === "setup" ? "The polls are not open yet. Come back when they open (see the election page)." : "The polls are closed: no more ballots can be cast. You can still check a receipt." });
      return;
    }
    buildBallot();
    $("step-credential").hidden = false;
  }, function (p) { $("loading").hidden = true; fail(p); });

  // Step 1: the credential.
  $("cred-use").addEventListener("click", function () {
    clearProblem();
    const b = $("cred-use");
    busy(b, true);
    $("cred-status").textContent = "Checking the credential and the election key against the board…";
    R.readFile($("cred-file")).then(function (text) {
      text = text || $("cred-code").value;
      if (!text.trim()) throw { message: "Choose your credential file, or type its code." };
      return R.call("loadCredential", text);
    }).then(function (c) {
      $("cred-status").textContent = "Credential loaded (public key " + c.publicKey + "…). The election key is the trustees'.";
      $("cred-code").value = "";
      $("step-choose").hidden = false;
      const first = $("ballot").querySelector("input");
      if (first) first.focus();
    }, function (p) { $("cred-status").textContent = ""; fail(p); }).finally(function () { busy(b, false); });
  });

  // Step 2: the choices.
  function ruleText(c) {
    if (c.optionMax === 1 && c.totalMin === c.totalMax) return c.totalMin === 1 ? "Choose exactly one." : "Choose exactly " + c.totalMin + ".";
    if (c.optionMax === 1) return c.totalMin === 0 ? "Choose up to " + c.totalMax + "." : "Choose between " + c.totalMin + " and " + c.totalMax + ".";
    return "Give each option a score from 0 to " + c.optionMax + "; the scores may add up to at most " + c.totalMax + ".";
  }

  function buildBallot() {
    const form = $("ballot");
    contests.forEach(function (c, ci) {
      const fs = document.createElement("fieldset");
      fs.id = "contest-" + ci;
      const lg = document.createElement("legend");
      lg.textContent = c.title;
      const rule = document.createElement("p");
      rule.className = "hint";
      rule.id = "rule-" + ci;
      rule.textContent = ruleText(c);
      const count = document.createElement("p");
      count.className = "count";
      count.id = "count-" + ci;
      count.setAttribute("aria-live", "polite");
      fs.append(lg, rule);
      fs.setAttribute("aria-describedby", rule.id + " " + count.id);
      const single = c.optionMax === 1 && c.totalMin === 1 && c.totalMax === 1;
      c.options.forEach(function (o, oi) {
        const row = document.createElement("div");
        row.className = "option";
        const input = document.createElement("input");
        input.id = "c" + ci + "o" + oi;
        input.name = "contest-" + ci;
        input.dataset.contest = ci;
        input.dataset.option = oi;
        const label = document.createElement("label");
        label.htmlFor = input.id;
        label.textContent = o.title;
        if (c.optionMax === 1) {
          input.type = single ? "radio" : "checkbox";
          row.append(input, label);
        } else {
          input.type = "number";
          input.min = "0";
          input.max = String(c.optionMax);
          input.step = "1";
          input.value = "0";
          input.inputMode = "numeric";
          label.textContent = o.title + " (0 to " + c.optionMax + ")";
          row.append(label, input);
        }
        input.addEventListener("input", function () { updateCount(ci); });
        input.addEventListener("change", function () { updateCount(ci); });
        fs.appendChild(row);
      });
      fs.appendChild(count);
      form.appendChild(fs);
      updateCount(ci);
    });
  }

  // values returns a contest's values, or a problem string.
  function values(ci) {
    const c = contests[ci];
    const v = [];
    for (const input of $("contest-" + ci).querySelectorAll("input")) {
      if (c.optionMax === 1) { v.push(input.checked ? 1 : 0); continue; }
      const s = input.value.trim();
      if (!/^[0-9]+$/.test(s) || Number(s) > c.optionMax) return { error: "each score must be a whole number from 0 to " + c.optionMax };
      v.push(Number(s));
    }
    return { values: v };
  }

  function check(ci) {
    const c = contests[ci];
    const r = values(ci);
    if (r.error) return r.error;
    const total = r.values.reduce(function (a, b) { return a + b; }, 0);
    if (total < c.totalMin || total > c.totalMax) {
      if (c.optionMax === 1) return "you chose " + total + ": " + ruleText(c).toLowerCase().replace(/\.$/, "");
      return "the scores add up to " + total + ", more than " + c.totalMax;
    }
    return "";
  }

  function updateCount(ci) {
    const c = contests[ci];
    const r = values(ci);
    const el = $("count-" + ci);
    if (r.error) { el.textContent = "Check: " + r.error + "."; return; }
    const total = r.values.reduce(function (a, b) { return a + b; }, 0);
    el.textContent = c.optionMax === 1 ? "Chosen: " + total + "." : "Total: " + total + " of at most " + c.totalMax + ".";
    const err = check(ci);
    el.classList.toggle("bad", err !== "");
  }

  function prepare(fresh) {
    clearProblem();
    const bad = [];
    const ch = contests.map(function (c, ci) {
      const err = check(ci);
      if (err) bad.push({ ci: ci, text: c.title + ": " + err + "." });
      return values(ci).values;
    });
    if (bad.length) {
      fail({ message: "Please correct your choices. " + bad.map(function (b) { return b.text; }).join(" ") });
      const first = $("contest-" + bad[0].ci).querySelector("input");
      if (first) first.focus();
      return Promise.resolve(false);
    }
    const b = $("prepare");
    busy(b, true);
    $("prepare-status").textContent = fresh ? "Making a fresh encryption of your choices…" : "Encrypting your ballot in this browser…";
    return R.call("prepare", JSON.stringify(ch)).then(function (p) {
      choices = ch;
      $("prepare-status").textContent = "Encrypted in " + p.millis.toFixed(0) + " ms.";
      document.body.dataset.encryptMillis = String(p.millis);
      $("tracking").textContent = p.trackingCode;
      $("step-choose").hidden = true;
      $("step-recorded").hidden = true;
      $("decide-status").textContent = "";
      R.show($("step-decide"));
      return true;
    }, function (p) { $("prepare-status").textContent = ""; fail(p); return false; }).finally(function () { busy(b, false); });
  }
  $("prepare").addEventListener("click", function () { prepare(false); });

  $("vote-again").addEventListener("click", function () {
    $("step-recorded").hidden = true;
    $("step-choose").hidden = false;
    const first = $("ballot").querySelector("input");
    if (first) first.focus();
  });

  // Step 3: cast or challenge.
  $("change").addEventListener("click", function () {
    $("step-decide").hidden = true;
    $("step-challenged").hidden = true;
    $("step-choose").hidden = false;
    const first = $("ballot").querySelector("input");
    if (first) first.focus();
  });

  $("challenge").addEventListener("click", function () {
    clearProblem();
    const b = $("challenge");
    busy(b, true);
    $("decide-status").textContent = "Challenging: sending the ballot with its secrets to the board, then opening it…";
    R.call("challenge").then(function (c) {
      const body = $("challenged-table").querySelector("tbody");
      body.replaceChildren();
      contests.forEach(function (ct, ci) {
        ct.options.forEach(function (o, oi) {
          const tr = document.createElement("tr");
          [ct.title, o.title, String(c.opened[ci][oi]), String(choices[ci][oi])].forEach(function (t, i) {
            const td = document.createElement(i === 0 ? "th" : "td");
            if (i === 0) td.scope = "row";
            td.textContent = t;
            tr.appendChild(td);
          });
          body.appendChild(tr);
        });
      });
      $("challenged-verdict").textContent = c.matches
        ? "The challenged ballot (tracking code " + c.trackingCode + ", entry " + c.index + " on the board) opens to exactly your choices: this page encrypted them honestly. It will never count."
        : "WARNING: the challenged ballot does NOT open to your choices. Do not vote on this device; tell the election's officials.";
      $("challenged-verdict").className = c.matches ? "good" : "bad";
      R.offerFile($("challenged-receipt"), c.receipt);
      $("step-challenged").hidden = false;
      $("decide-status").textContent = "";
      if (!c.matches) { R.show($("step-challenged")); return; }
      return prepare(true).then(function (ok) {
        if (ok) $("decide-status").textContent = "The challenged ballot checked out (see below). This is a fresh encryption of the same choices, with a new tracking code: cast it, or challenge again.";
      });
    }, function (p) { $("decide-status").textContent = ""; fail(p); }).finally(function () { busy(b, false); });
  });

  $("cast").addEventListener("click", function () {
    clearProblem();
    const b = $("cast");
    busy(b, true);
    $("decide-status").textContent = "Casting, then checking the board's proof that your ballot is on it…";
    R.call("cast").then(function (c) {
      $("rec-tracking").textContent = c.trackingCode;
      $("rec-index").textContent = String(c.index);
      $("rec-size").textContent = c.treeSize + " entries, signed by the board " + c.boardFingerprint;
      $("rec-root").textContent = c.root;
      $("rec-board").textContent = c.boardFingerprint;
      $("rec-witnessed").textContent = c.witnessed ? c.witnessed + " (policy " + c.policyFingerprint + ")" :
        (c.cosigned ? "yes: the checkpoint is co-signed by the witnesses" : (c.unwitnessed ? "not yet (check the receipt later)" : "this board has no witnesses"));
      $("rec-millis").textContent = c.millis.toFixed(0) + " ms";
      document.body.dataset.castMillis = String(c.millis);
      R.offerFile($("rec-receipt"), c.receipt);
      $("rec-receipt-text").textContent = c.receipt;
      $("step-decide").hidden = true;
      $("step-challenged").hidden = true;
      $("step-choose").hidden = true;
      R.show($("step-recorded"));
      $("prepare").textContent = "Encrypt my new ballot";
    }, function (p) { $("decide-status").textContent = "Not recorded."; fail(p); }).finally(function () { busy(b, false); });
  });
})();

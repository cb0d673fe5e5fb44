// The visit wizard: scan, live check, co-signatures, confirmation, then the one write.
// Every call goes through window.pumpFetch (the session's CSRF token); the server decides
// everything (findings, hard stops, who may sign); this script only shows what it answers.
(function () {
  "use strict";
  const root = document.getElementById("wizard");
  if (!root) return;
  const serial = root.dataset.serial;
  const spinal = root.dataset.spinal === "true";
  const performedAt = root.dataset.performedAt;
  const key = root.dataset.key; // made when the form was loaded: a double click or a retry records once
  const ownOverride = root.dataset.ownOverride === "true"; // a physician at the station signs nothing extra
  let directOverride = null;
  let version = Number(root.dataset.version);
  const signatures = { override: null, checks: [] };
  // Every overridable hard stop met since the form was loaded, by the live check or by the visit
  // itself (a programmable pump's register is judged only then): the physician signs for them all.
  const stopCodes = new Set();
  let lastPlan = null;
  let planTimer = null;
  let planSeq = 0;
  const $ = (id) => document.getElementById(id);
  const NOT_OVERRIDABLE = new Set(["second_check_missing"]);

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function show(target, nodes) {
    target.replaceChildren(...nodes);
  }

  async function call(url, body) {
    const response = await window.pumpFetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body === undefined ? {} : body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = { detail: response.statusText };
    }
    return { status: response.status, ok: response.ok, data: data };
  }

  function problemText(data) {
    if (!data) return "no answer";
    const detail = data.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => (d.loc ? d.loc.slice(1).join(".") + ": " : "") + d.msg).join("; ");
    if (Array.isArray(data.errors)) return data.errors.map((d) => (d.loc ? d.loc.slice(1).join(".") + ": " : "") + d.msg).join("; ");
    return data.title || JSON.stringify(data);
  }

  function number(id) {
    const raw = $(id).value.trim().replace(",", ".");
    return raw === "" ? null : Number(raw);
  }

  function drugUnit() {
    const option = $("drug").selectedOptions[0];
    return option ? option.dataset.unit : "mg/mL";
  }

  function entry() {
    const component = { drug_id: $("drug").value };
    const conc = number("concentration");
    if (conc !== null) {
      component[drugUnit() === "USP_U/mL" ? "conc_usp_u_per_ml" : "conc_mg_per_ml"] = conc;
    }
    if ($("lot").value.trim()) component.lot = $("lot").value.trim();
    if ($("expires").value) component.expires_on = $("expires").value;
    // The scanned NDC is shown, not sent: a barcode's 10 digits do not say their 4-4-2/5-3-2/5-4-1
    // hyphenation, and billing takes an NDC only in a form it can tell apart.
    const components = [component];
    if ($("diluent").value) components.push({ drug_id: $("diluent").value });
    const body = {
      performed_at: performedAt,
      returned_volume_ml: number("returned"),
      fill_volume_ml: number("fill"),
      components: components,
      idempotency_key: key,
      expected_pump_version: version,
      cosignatures: [signatures.override, ...signatures.checks].filter((id) => id !== null),
    };
    if (directOverride !== null) body.override = directOverride;
    const resolution = number("resolution");
    if (resolution !== null) body.syringe_resolution_ml = resolution;
    return body;
  }

  function ready() {
    return number("returned") !== null && number("fill") !== null && number("concentration") !== null;
  }

  // ---- interrogation ------------------------------------------------------------------------

  async function interrogate() {
    const button = $("interrogate");
    button.disabled = true;
    show($("interrogation"), [el("p", { class: "muted" }, "Interrogating…")]);
    const answer = await call(`/pumps/${encodeURIComponent(serial)}/visits`);
    button.disabled = false;
    if (!answer.ok) {
      show($("interrogation"), [el("p", { class: "finding error" }, problemText(answer.data))]);
      return;
    }
    const pump = answer.data.pump;
    version = pump.version; // the interrogation is stored: the form now stands on this version
    const alarms = (pump.alarms || []).map((a) => a.code || a.kind || JSON.stringify(a)).join(", ") || "none";
    const rows = [
      ["Reservoir", pump.reservoir_ml === null ? "?" : `${pump.reservoir_ml.toFixed(2)} mL`],
      ["Rate", pump.planning_rate_ml_per_day === null ? "?" : `${pump.planning_rate_ml_per_day} mL/day`],
      ["Alarms", alarms],
      ["Battery", `${pump.battery_state || "?"}${pump.months_to_eri !== null ? ` (${pump.months_to_eri} months to ERI)` : ""}`],
      ["Expected residual", answer.data.expected_residual_ml === null ? "?" : `${answer.data.expected_residual_ml.toFixed(2)} mL`],
    ];
    const table = el("table", { "data-testid": "interrogation-table" });
    rows.forEach(([k, v]) => {
      const tr = el("tr");
      tr.append(el("th", {}, k), el("td", {}, v));
      table.append(tr);
    });
    const notes = (answer.data.attention || []).map((a) => el("p", { class: "finding warning" }, a));
    show($("interrogation"), [table, ...notes]);
    if (pump.reservoir_ml !== null) $("old-reservoir").textContent = `${pump.reservoir_ml.toFixed(2)} mL`;
    schedulePlan();
  }

  // ---- scanning -----------------------------------------------------------------------------

  async function scan(event) {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const data = $("scan").value;
    if (!data.trim()) return;
    const answer = await call("/gs1/parse", { data: data });
    if (!answer.ok) {
      show($("scan-result"), [el("p", { class: "finding error", "data-testid": "scan-error" }, problemText(answer.data))]);
      return;
    }
    const s = answer.data;
    if (s.lot) $("lot").value = s.lot;
    if (s.expires_on) $("expires").value = s.expires_on;
    $("ndc").value = s.ndc || "";
    if (s.drug_id) $("drug").value = s.drug_id;
    const parts = [`GTIN ${s.gtin}`, s.ndc ? `NDC ${s.ndc}` : null, s.lot ? `lot ${s.lot}` : null,
      s.expires_on ? `expires ${s.expires_on}` : null, s.serial ? `serial ${s.serial}` : null].filter(Boolean);
    const nodes = [el("p", { class: "finding info", "data-testid": "scan-ok" }, parts.join(" · "))];
    if (!s.drug_id) nodes.push(el("p", { class: "muted" }, "The catalogue has no NDCs: choose the drug yourself."));
    if (s.expired) nodes.push(el("p", { class: "finding hard_stop" }, `This vial expired on ${s.expires_on}.`));
    show($("scan-result"), nodes);
    $("scan").value = "";
    schedulePlan();
  }

  // ---- the live check -----------------------------------------------------------------------

  function schedulePlan() {
    clearTimeout(planTimer);
    planTimer = setTimeout(plan, 350);
  }

  async function plan() {
    if (!ready()) return;
    const seq = ++planSeq;
    const answer = await call(`/pumps/${encodeURIComponent(serial)}/refills/plan`, entry());
    if (seq !== planSeq) return; // a newer keystroke's answer is on its way
    if (!answer.ok) {
      lastPlan = null;
      $("review").disabled = true;
      show($("plan-figures"), [el("p", { class: "finding error", "data-testid": "plan-error" }, problemText(answer.data))]);
      show($("findings"), []);
      $("override-box").hidden = true;
      return;
    }
    lastPlan = answer.data;
    renderPlan(answer.data);
  }

  function fmt(value, digits, unit) {
    return value === null || value === undefined ? "?" : `${Number(value).toFixed(digits)}${unit}`;
  }

  function renderPlan(p) {
    const figures = el("table", { "data-testid": "plan-table" });
    const doses = p.components.filter((c) => c.daily_dose).map((c) => `${c.drug_name}: ${c.daily_dose}`).join("; ");
    [
      ["Expected residual", fmt(p.expected_residual_ml, 2, " mL")],
      ["Deviation", p.deviation_pct === null ? "?" : `${p.deviation_pct >= 0 ? "+" : ""}${p.deviation_pct.toFixed(1)} %`],
      ["Dose", doses || "?"],
      ["Next due", p.next_due_at.slice(0, 10)],
    ].forEach(([k, v]) => {
      const tr = el("tr");
      tr.append(el("th", {}, k), el("td", {}, v));
      figures.append(tr);
    });
    show($("plan-figures"), [figures]);
    const order = { hard_stop: 0, warning: 1, info: 2 };
    const shown = [...p.findings].sort((a, b) => order[a.tier] - order[b.tier]).map((f) => {
      const overridden = f.tier === "hard_stop" && !p.unresolved.includes(f.code);
      const node = el("p", { class: `finding ${f.tier}`, "data-code": f.code, "data-testid": `finding-${f.tier}` });
      node.append(el("strong", {}, `${f.tier.replace("_", " ")} · ${f.code}`), document.createTextNode(`: ${f.message}`));
      if (overridden) node.append(el("em", {}, " (overridden)"));
      return node;
    });
    show($("findings"), shown);
    p.unresolved.filter((c) => !NOT_OVERRIDABLE.has(c)).forEach((c) => stopCodes.add(c));
    const overridable = p.unresolved.filter((c) => !NOT_OVERRIDABLE.has(c));
    $("override-box").hidden = overridable.length === 0 && signatures.override === null && directOverride === null;
    $("override-codes").textContent = overridable.length ? `Hard stops to override: ${[...stopCodes].sort().join(", ")}` : "";
    if (spinal) {
      const c = p.components.find((x) => x.concentration !== null);
      if (c) $("check-what").textContent = `${c.drug_name}, ${c.concentration} ${drugUnit()}, ${number("fill")} mL`;
    }
    $("review").disabled = !(p.committable && $("needle").checked);
  }

  // ---- co-signatures ------------------------------------------------------------------------

  function overrideAsMe() {
    const reason = $("override-reason").value.trim();
    const out = $("override-result");
    if (reason.length < 10) {
      show(out, [el("p", { class: "finding error", "data-testid": "sign-error" }, "give the reason (10 characters or more)")]);
      return;
    }
    directOverride = { reason: reason, codes: [...stopCodes].sort() };
    show(out, [el("p", { class: "finding ok", "data-testid": "signed" }, `Override of ${directOverride.codes.join(", ")} in your own name.`)]);
    schedulePlan();
  }

  async function sign(kind) {
    const isOverride = kind === "hard_stop_override";
    const user = $(isOverride ? "override-user" : "check-user");
    const password = $(isOverride ? "override-password" : "check-password");
    const out = $(isOverride ? "override-result" : "check-result");
    const body = { kind: kind, username: user.value.trim(), password: password.value };
    if (isOverride) {
      body.reason = $("override-reason").value.trim();
      body.codes = [...stopCodes].sort();
    } else {
      const fill = number("fill");
      body.drug_id = $("drug").value;
      body.concentration = number("concentration");
      body.fill_volume_ml = fill;
    }
    const answer = await call(`/pumps/${encodeURIComponent(serial)}/cosignatures`, body);
    password.value = ""; // never kept on the page
    if (!answer.ok) {
      show(out, [el("p", { class: "finding error", "data-testid": "sign-error" }, problemText(answer.data))]);
      return;
    }
    const s = answer.data;
    if (isOverride) signatures.override = s.cosignature_id;
    else signatures.checks = [s.cosignature_id];
    const what = isOverride ? `Override of ${s.payload.codes.join(", ")}` : "Second check";
    show(out, [el("p", { class: "finding ok", "data-testid": "signed" }, `${what} signed by ${s.signer} (${s.signer_role}); valid until ${s.expires_at.slice(11, 16)} UTC.`)]);
    schedulePlan();
  }

  // ---- confirmation and the write -----------------------------------------------------------

  function review() {
    if (!lastPlan || !lastPlan.committable || !$("needle").checked) return;
    const c = lastPlan.components.find((x) => x.concentration !== null) || lastPlan.components[0];
    $("new-reservoir").textContent = `${number("fill").toFixed(2)} mL`;
    $("new-drug").textContent = c.drug_name;
    $("new-conc").textContent = c.concentration === null ? "?" : `${c.concentration} ${drugUnit()}`;
    $("new-due").textContent = lastPlan.next_due_at.slice(0, 10);
    $("confirm-box").hidden = false;
    $("refill-form").querySelectorAll("input, select").forEach((i) => (i.disabled = true));
    $("review").disabled = true;
    $("confirm").disabled = false;
    show($("confirm-result"), []);
    $("confirm-box").scrollIntoView();
  }

  function back() {
    $("confirm-box").hidden = true;
    $("refill-form").querySelectorAll("input, select").forEach((i) => (i.disabled = false));
    schedulePlan();
  }

  let confirming = false;
  async function confirm() {
    if (confirming) return; // a double click sends one request (and the key makes a retry a replay)
    confirming = true;
    $("confirm").disabled = true;
    show($("confirm-result"), [el("p", { class: "muted" }, "Writing…")]);
    const answer = await call(`/pumps/${encodeURIComponent(serial)}/refills`, entry());
    confirming = false;
    if (answer.ok) {
      window.location.assign(`/visits/refills/${answer.data.refill_id}`);
      return;
    }
    const text = answer.status === 409 ? `Conflict: ${problemText(answer.data)}` : problemText(answer.data);
    show($("confirm-result"), [el("p", { class: "finding error", "data-testid": "confirm-error" }, text)]);
    if (answer.data && Array.isArray(answer.data.findings)) {
      lastPlan = Object.assign({}, lastPlan || {}, { findings: answer.data.findings, unresolved: answer.data.unresolved, committable: false });
      back();
      renderPlan(Object.assign({}, lastPlan, { components: lastPlan.components || [] }));
    } else {
      $("confirm").disabled = answer.status === 409;
    }
  }

  // ---- wiring -------------------------------------------------------------------------------

  if ($("interrogate")) $("interrogate").addEventListener("click", interrogate);
  $("scan").addEventListener("keydown", scan);
  $("drug").addEventListener("change", () => {
    $("conc-unit").textContent = drugUnit();
    schedulePlan();
  });
  ["concentration", "lot", "expires", "returned", "fill", "resolution"].forEach((id) =>
    $(id).addEventListener("input", schedulePlan)
  );
  $("diluent").addEventListener("change", schedulePlan);
  // Placement is the nurse's own check at the port: no write is reviewed before it is ticked.
  $("needle").addEventListener("change", () => {
    $("review").disabled = !(lastPlan && lastPlan.committable && $("needle").checked);
  });
  $("override-sign").addEventListener("click", () => (ownOverride ? overrideAsMe() : sign("hard_stop_override")));
  if ($("check-sign")) $("check-sign").addEventListener("click", () => sign("second_check"));
  $("review").addEventListener("click", review);
  $("back").addEventListener("click", back);
  $("confirm").addEventListener("click", confirm);
})();

// A partner page rendering the official 360dialog Connect button, unmodified, with env="local"
// (it opens http://localhost:8082/dashboard/app/{partnerId}). The test reads #callback.
import React from "react";
import { createRoot } from "react-dom/client";
import { ConnectButton } from "360dialog-connect-button";

const root = document.getElementById("root");
window.buttonCallbacks = [];

function callback(value) {
  window.buttonCallbacks.push(value);
  document.getElementById("callback").textContent = JSON.stringify(value);
  // A partner page hands the redirect to its own backend, which forwards it to onboard360
  // with the product's token and the onboarding its user is in. The button may call back
  // more than once; only a query with `client` is a redirect.
  const query = window.location.search;
  if (root.dataset.forward && new URLSearchParams(query).has("client")) {
    fetch(root.dataset.forward, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query }),
    })
      .then((answer) => answer.json())
      .then((view) => { document.getElementById("forwarded").textContent = JSON.stringify(view); });
  }
}

function render(queryParameters) {
  createRoot(root).render(
    <ConnectButton
      partnerId={root.dataset.partnerId}
      env="local"
      requestedNumber={root.dataset.number}
      queryParameters={queryParameters}
      callback={callback}
      label="Connect 360dialog"
      id="connect"
    />,
  );
}

if (root.dataset.parameters) {
  // The button's queryParameters (state, prefill, IO Signature) come from onboard360 through
  // the partner's backend, signed now; once the onboarding is completed there are none.
  fetch(root.dataset.parameters, { method: "POST", cache: "no-store" })
    .then((answer) => (answer.ok ? answer.json() : null))
    .then((body) => {
      document.getElementById("parameters").textContent = JSON.stringify(body);
      render(body ? body.query_parameters : {});
    });
} else {
  render({ state: root.dataset.state, email: root.dataset.email });
}

// A partner page rendering the official 360dialog Connect button, unmodified, with env="local"
// (it opens http://localhost:8082/dashboard/app/{partnerId}). The test reads #callback.
import React from "react";
import { createRoot } from "react-dom/client";
import { ConnectButton } from "360dialog-connect-button";

const root = document.getElementById("root");
const queryParameters = { state: root.dataset.state, email: root.dataset.email };
window.buttonCallbacks = [];

function callback(value) {
  window.buttonCallbacks.push(value);
  document.getElementById("callback").textContent = JSON.stringify(value);
  // A partner page hands the redirect (with its state) to its own backend, which forwards
  // it to onboard360 with the product's token. The button may call back more than once.
  if (root.dataset.forward) {
    fetch(root.dataset.forward, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: window.location.search }),
    })
      .then((answer) => answer.json())
      .then((view) => { document.getElementById("forwarded").textContent = JSON.stringify(view); });
  }
}

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

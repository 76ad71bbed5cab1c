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

/* onboard360 Connect button: include this script and add
 *   <div data-onboard360-base="https://<service>/connect/<hub>" data-onboard360-start="<state>"></div>
 * It opens the 360dialog popup through the service (which signs it at click time) and
 * shows each number's progress until it is live. No framework, no build step. On another
 * origin than the service's, list that origin in the product's `embed_origins`.
 */
(function () {
  "use strict";

  function text(tag, value, className) {
    var node = document.createElement(tag);
    node.textContent = value == null ? "" : String(value);
    if (className) node.className = className;
    return node;
  }

  function render(target, view) {
    target.textContent = "";
    var stages = {
      waiting_for_popup: "Waiting for you to finish in the 360dialog window…",
      confirming: "Confirming with 360dialog…",
      connecting: "Connecting your numbers…",
      action_needed: "We need your permission before your numbers can go live.",
      live: "All your numbers are live.",
    };
    // Words for the client; the service's `reason` is written for operators.
    var notes = {
      not_running: "Being set up by WhatsApp…",
      provisioning: "Almost ready…",
      waiting_for_permission:
        "Waiting for your permission: open the 360dialog window again and allow us to manage this number.",
      permission_revoked: "Permission removed",
      terminated: "This number was removed.",
    };
    target.appendChild(text("p", stages[view.stage] || view.stage, "onboard360-stage"));
    if (!view.channels || !view.channels.length) return;
    var table = document.createElement("table");
    var head = document.createElement("tr");
    ["Number", "Status", ""].forEach(function (h) { head.appendChild(text("th", h)); });
    table.appendChild(head);
    view.channels.forEach(function (channel) {
      var row = document.createElement("tr");
      row.dataset.channelId = channel.channel_id;
      row.appendChild(text("td", channel.phone_number || channel.channel_id));
      row.appendChild(text("td", channel.status || "pending"));
      var revoked = (view.revoked || []).indexOf(channel.channel_id) >= 0;
      var note = channel.live ? "Live" : revoked ? "Permission removed"
        : notes[channel.blocker] || "Connecting…";
      row.appendChild(text("td", note, channel.live ? "live" : "reason"));
      table.appendChild(row);
    });
    target.appendChild(table);
  }

  function init(root) {
    var base = root.getAttribute("data-onboard360-base").replace(/\/$/, "");
    var start = root.getAttribute("data-onboard360-start");
    // The popup's last page knows its attempt by the cookie when no state came back.
    var attempt = root.getAttribute("data-onboard360-attempt");
    var which = start !== null ? "start=" + encodeURIComponent(start)
      : "attempt=" + encodeURIComponent(attempt || "");
    var progress = text("div", "", "onboard360-progress");
    var polling = false;

    function poll() {
      if (polling) return;
      polling = true;
      (function tick() {
        fetch(base + "/progress?" + which, { cache: "no-store" })
          .then(function (r) { return r.json(); })
          .then(function (view) {
            if (view.error) { progress.textContent = view.error; return; }
            render(progress, view);
            root.setAttribute("data-onboard360-stage", view.stage);
            // Waiting on the client can take days: look again, but gently.
            if (view.stage !== "live") setTimeout(tick, view.stage === "action_needed" ? 10000 : 1000);
          })
          .catch(function () { setTimeout(tick, 2000); });
      })();
    }

    if (!root.hasAttribute("data-onboard360-watch")) {
      var button = text("button", root.getAttribute("data-label") || "Connect WhatsApp");
      button.type = "button";
      button.addEventListener("click", function () {
        window.open(base + "/popup?start=" + encodeURIComponent(start), "onboard360",
                    "width=620,height=900");
        poll();
      });
      root.appendChild(button);
    } else {
      poll();
    }
    root.appendChild(progress);
    window.addEventListener("message", function (event) {
      if (event.data && event.data.type === "onboard360:redirected") poll();
    });
  }

  var roots = document.querySelectorAll("[data-onboard360-base]");
  for (var i = 0; i < roots.length; i++) init(roots[i]);
})();

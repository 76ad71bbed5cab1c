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
    var notice = text("div", "", "onboard360-notice");
    notice.setAttribute("role", "alert");
    notice.hidden = true;
    var progress = text("div", "", "onboard360-progress");
    var round = 0;  // each opening of the popup polls anew; a notice ends the round
    var popup = null;
    var redirected = false;

    function poll() {
      var mine = ++round;
      (function tick() {
        if (mine !== round) return;
        fetch(base + "/progress?" + which, { cache: "no-store" })
          .then(function (r) { return r.json(); })
          .then(function (view) {
            if (mine !== round) return;
            if (view.error) { progress.textContent = view.error; return; }
            if (!notice.hidden) {
              // A "closed" notice may be wrong (see watch): it stays until the redirect
              // comes back after all, then the progress takes its place.
              if (view.stage === "waiting_for_popup") { setTimeout(tick, 2000); return; }
              notice.hidden = true;
            }
            render(progress, view);
            root.setAttribute("data-onboard360-stage", view.stage);
            // Waiting on the client can take days: look again, but gently.
            if (view.stage !== "live") setTimeout(tick, view.stage === "action_needed" ? 10000 : 1000);
          })
          .catch(function () { setTimeout(tick, 2000); });
      })();
    }

    // A funnel step for the attempt (popup_blocked, popup_closed); the answer says whether
    // the service still waits for the redirect (a 409: it already came back).
    function step(name) {
      return fetch(base + "/steps/" + name + "?" + which,
                   { method: "POST", cache: "no-store", keepalive: true })
        .then(function (r) { return r.ok; })
        .catch(function () { return true; });
    }

    function tell(kind, message, way) {
      round++;  // stop saying "waiting for you to finish"
      progress.textContent = "";
      notice.textContent = "";
      notice.setAttribute("data-onboard360-notice", kind);
      notice.appendChild(text("p", message));
      notice.appendChild(way);
      notice.hidden = false;
    }

    function blocked() {
      // Going on in this tab is a plain link: a click on it is never blocked, and
      // 360dialog's redirect then comes back to this service's connect page in this tab.
      var way = text("a", "Continue to 360dialog in this tab", "onboard360-continue");
      way.href = base + "/popup?start=" + encodeURIComponent(start) + "&in=tab";
      way.target = "_top";  // framed by the product's page: leave the frame
      tell("popup_blocked", "Your browser blocked the 360dialog window. You can continue " +
           "in this tab instead; you come back here when you are done.", way);
      step("popup_blocked");
    }

    function closedEarly() {
      step("popup_closed").then(function (waiting) {
        if (redirected) return;
        if (!waiting) { poll(); return; }  // it came back after all
        var again = text("button", "Try again", "onboard360-retry");
        again.type = "button";
        again.addEventListener("click", open);
        tell("popup_closed", "The 360dialog window was closed before you finished, so " +
             "nothing was connected yet. If it is still open, finish there: this page " +
             "follows.", again);
        poll();  // the notice goes when the redirect comes back after all
      });
    }

    function watch(opened) {
      var timer = setInterval(function () {
        if (opened !== popup) { clearInterval(timer); return; }
        if (!opened.closed) return;
        clearInterval(timer);
        popup = null;
        // unverified: that 360dialog's pages keep the opener. A Cross-Origin-Opener-Policy
        // on them would cut it off and the window would look closed at once, while the
        // person is still in it: the notice says so, the page keeps polling and steps
        // aside when the redirect comes back (tests/e2e/test_connect_notices.py).
        if (!redirected) closedEarly();
      }, 500);
    }

    function open() {
      notice.hidden = true;
      redirected = false;
      var opened = window.open(base + "/popup?start=" + encodeURIComponent(start),
                               "onboard360", "width=620,height=900");
      // A blocker returns nothing (some return a window that is already closed).
      if (!opened || opened.closed || typeof opened.closed === "undefined") {
        popup = null;
        blocked();
        return;
      }
      popup = opened;
      watch(opened);
      poll();
    }

    if (!root.hasAttribute("data-onboard360-watch")) {
      var button = text("button", root.getAttribute("data-label") || "Connect WhatsApp");
      button.type = "button";
      button.addEventListener("click", open);
      root.appendChild(button);
    } else {
      poll();
    }
    root.appendChild(notice);
    root.appendChild(progress);
    window.addEventListener("message", function (event) {
      if (event.data && event.data.type === "onboard360:redirected") {
        redirected = true;
        notice.hidden = true;
        poll();
      }
    });
  }

  var roots = document.querySelectorAll("[data-onboard360-base]");
  for (var i = 0; i < roots.length; i++) init(roots[i]);
})();

/* Site search when the built site is opened from disk (file://).
 *
 * The theme runs its search in a Web Worker, and browsers refuse to start a worker from a file:// URL. Opened from
 * disk, this replaces `Worker` with one that runs the worker's script in a hidden same-page iframe and passes the
 * messages by hand; served over HTTP(S) it does nothing. mkdocs.yml lists it as the offline plugin's shim (its name
 * contains "iframe-worker", so the plugin does not add a shim of its own from a CDN).
 */
(function () {
  "use strict";
  if (location.protocol !== "file:") {
    return;
  }

  function FrameWorker(url) {
    var outside = this;
    var base = new URL(url, location.href).href;
    var listeners = [];
    var queued = [];
    var loaded = false;
    var frame = document.createElement("iframe");
    frame.hidden = true;
    frame.setAttribute("aria-hidden", "true");
    (document.body || document.documentElement).appendChild(frame);
    var scope = frame.contentWindow;

    // Inside: what the worker's script calls. postMessage() goes out to the page's listeners.
    scope.postMessage = function (data) {
      var event = { data: data, target: outside };
      setTimeout(function () {
        if (typeof outside.onmessage === "function") {
          outside.onmessage(event);
        }
        listeners.slice().forEach(function (listener) { listener(event); });
      }, 0);
    };
    scope.importScripts = function () {
      var urls = Array.prototype.slice.call(arguments);
      return urls.reduce(function (previous, src) {
        return previous.then(function () { return load(src); });
      }, Promise.resolve());
    };

    function load(src) {
      return new Promise(function (resolve, reject) {
        var script = scope.document.createElement("script");
        script.src = new URL(src, base).href;
        script.onload = resolve;
        script.onerror = reject;
        scope.document.head.appendChild(script);
      });
    }

    function deliver(data) {
      scope.dispatchEvent(new scope.MessageEvent("message", { data: data }));
    }

    // Outside: what the page calls on the worker.
    this.onmessage = null;
    this.postMessage = function (data) {
      if (loaded) {
        setTimeout(function () { deliver(data); }, 0);
      } else {
        queued.push(data);
      }
    };
    this.addEventListener = function (type, listener) {
      if (type === "message") {
        listeners.push(listener);
      }
    };
    this.removeEventListener = function (type, listener) {
      listeners = listeners.filter(function (known) { return known !== listener; });
    };
    this.terminate = function () {
      frame.remove();
    };

    load(base).then(function () {
      loaded = true;
      queued.splice(0).forEach(deliver);
    });
  }

  window.Worker = FrameWorker;
})();

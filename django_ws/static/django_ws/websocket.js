/*
 * django_ws browser client: the browser's WebSocket, plus reconnection.
 *
 *   <script src="{% static 'django_ws/websocket.js' %}"></script>
 *   const socket = new DjangoWebSocket("{% url 'chat' %}");   // a path is enough
 *   socket.addEventListener("message", (event) => show(event.data));
 *   socket.send("hello");   // queued while (re)connecting
 *
 * Reconnects with exponential back-off and full jitter after a close the
 * server means as temporary (1001 going away, 1005/1006 lost connection,
 * 1011 server error, 1012 restart, 1013 try again later). Does not retry
 * after a normal close (1000), a policy violation (1008), a protocol error
 * the retry would repeat (1002, 1003, 1007, 1009, 1010), an application code
 * (4000-4999), or a handshake the server refused with an HTTP status.
 *
 * Events: "open", "message", "close" (each close, with .willRetry and
 * .delay), "reconnecting". The same event objects as the browser's WebSocket.
 *
 * Group envelopes (views that join(group, recover=True), see the README):
 * with { envelopes: true }, the client keeps the last position of each
 * group, sends them back on reconnect in the query string parameter
 * django_ws_since (a JSON object {group: position}), drops the duplicates,
 * and delivers each message's data as a "message" event (.data is the JSON
 * value or string, a Uint8Array for bytes; .group and .position are set).
 * A "recovered" event (.group, .recovered, .position) says per group whether
 * what was missed came back (false: reload the state, e.g. from the page);
 * "presence" events (.group, .presence "join"/"leave", .info) follow members.
 * A view's join(group, latest=True) sends the group's newest message first:
 * a "message" event with .latest true.
 * Other messages are delivered as they are. Only text frames that begin with
 * {"group": are read as envelopes, and the server sends no other text frame
 * that begins so (django_ws/encoding.py): relayed text cannot forge one.
 */
(function (root) {
  "use strict";

  const RETRY_CODES = new Set([1001, 1005, 1006, 1011, 1012, 1013]);

  function absoluteUrl(url) {
    if (/^wss?:\/\//.test(url)) return url;
    const scheme = root.location.protocol === "https:" ? "wss://" : "ws://";
    if (url.startsWith("/")) return scheme + root.location.host + url;
    return scheme + root.location.host + new URL(url, root.location.href).pathname;
  }

  class DjangoWebSocket extends EventTarget {
    /**
     * @param {string} url  ws:// or wss:// URL, or a path on this site.
     * @param {object} [options]
     * @param {string|string[]} [options.protocols]  subprotocols to offer.
     * @param {number} [options.minDelay=500]  first retry delay, ms.
     * @param {number} [options.maxDelay=30000]  longest retry delay, ms.
     * @param {number} [options.maxRetries=Infinity]  give up after this many.
     * @param {number} [options.maxQueue=1000]  messages kept while disconnected.
     * @param {boolean} [options.envelopes=false]  understand group envelopes.
     */
    constructor(url, options = {}) {
      super();
      this.url = absoluteUrl(url);
      this.protocols = options.protocols;
      this.minDelay = options.minDelay ?? 500;
      this.maxDelay = options.maxDelay ?? 30000;
      this.maxRetries = options.maxRetries ?? Infinity;
      this.maxQueue = options.maxQueue ?? 1000;
      this.envelopes = options.envelopes ?? false;
      /** Last position per group ({group: "epoch-offset"}), sent on reconnect. */
      this.positions = {};
      this.retries = 0;
      this.queue = [];
      this.closedByUser = false;
      this.timer = null;
      this.socket = null;
      this._connect();
    }

    get readyState() {
      return this.socket ? this.socket.readyState : WebSocket.CONNECTING;
    }

    /** Send now if open, else queue until the next open (oldest dropped past maxQueue). */
    send(data) {
      if (this.socket && this.socket.readyState === WebSocket.OPEN) {
        this.socket.send(data);
        return;
      }
      this.queue.push(data);
      if (this.queue.length > this.maxQueue) this.queue.shift();
    }

    /** Close for good: no reconnection. */
    close(code = 1000, reason = "") {
      this.closedByUser = true;
      clearTimeout(this.timer);
      if (this.socket) this.socket.close(code, reason);
    }

    _connect() {
      const socket = new WebSocket(this._connectUrl(), this.protocols);
      socket.binaryType = "arraybuffer";
      this.socket = socket;
      let opened = false;
      socket.addEventListener("open", (event) => {
        opened = true;
        this.retries = 0;
        const queued = this.queue.splice(0);
        for (const data of queued) socket.send(data);
        this.dispatchEvent(new Event("open"));
      });
      socket.addEventListener("message", (event) => {
        if (this.envelopes && typeof event.data === "string" && this._envelope(event)) return;
        this.dispatchEvent(new MessageEvent("message", { data: event.data, origin: event.origin }));
      });
      socket.addEventListener("close", (event) => {
        // A handshake refused with an HTTP status (403, 404, ...) closes with
        // 1006 before any open: retrying would be refused again, but a
        // server that is down looks the same, so those are retried too.
        const retry =
          !this.closedByUser &&
          RETRY_CODES.has(event.code) &&
          this.retries < this.maxRetries;
        const delay = retry ? this._delay() : null;
        const closeEvent = new CloseEvent("close", {
          code: event.code,
          reason: event.reason,
          wasClean: event.wasClean,
        });
        closeEvent.willRetry = retry;
        closeEvent.delay = delay;
        closeEvent.opened = opened;
        this.dispatchEvent(closeEvent);
        if (retry) {
          this.retries += 1;
          this.timer = setTimeout(() => {
            this.dispatchEvent(new Event("reconnecting"));
            this._connect();
          }, delay);
        }
      });
    }

    _connectUrl() {
      const groups = Object.keys(this.positions);
      if (!this.envelopes || groups.length === 0) return this.url;
      const url = new URL(this.url);
      url.searchParams.set("django_ws_since", JSON.stringify(this.positions));
      return url.toString();
    }

    /** Handle a group envelope; false if the message is none. */
    _envelope(event) {
      if (!event.data.startsWith('{"group":')) return false;
      let envelope;
      try {
        envelope = JSON.parse(event.data);
      } catch (error) {
        return false;
      }
      const group = envelope.group;
      if (typeof group !== "string") return false;
      if ("recovered" in envelope) {
        // Recovered: the replay that follows moves the position on (P is
        // where it will end). Not recovered, or a first join: start from P.
        const known = group in this.positions;
        if (envelope.position !== null && (!envelope.recovered || !known)) {
          this.positions[group] = envelope.position;
        }
        const recovered = new Event("recovered");
        recovered.group = group;
        recovered.recovered = envelope.recovered;
        recovered.position = envelope.position;
        this.dispatchEvent(recovered);
        return true;
      }
      if ("presence" in envelope) {
        const presence = new Event("presence");
        presence.group = group;
        presence.presence = envelope.presence;
        presence.info = envelope.info;
        this.dispatchEvent(presence);
        return true;
      }
      if (!("data" in envelope) && !("bytes" in envelope)) return false;
      const position = envelope.position;
      // join(latest=True): the newest message, sent after "recovered", which
      // already set the position: delivered as it is, the position unmoved.
      const latest = envelope.latest === true;
      if (!latest && position !== null && position !== undefined) {
        if (!this._isNew(group, position)) return true;  // a duplicate
        this.positions[group] = position;
      }
      const data = "bytes" in envelope
        ? Uint8Array.from(atob(envelope.bytes), (c) => c.charCodeAt(0))
        : envelope.data;
      const message = new MessageEvent("message", { data, origin: event.origin });
      message.group = group;
      message.position = position;
      message.latest = latest;
      this.dispatchEvent(message);
      return true;
    }

    _isNew(group, position) {
      // A position is "<epoch>-<offset>": within one epoch, offsets grow.
      const last = this.positions[group];
      if (last === undefined) return true;
      const split = (p) => [p.slice(0, p.lastIndexOf("-")), Number(p.slice(p.lastIndexOf("-") + 1))];
      const [epoch, offset] = split(position);
      const [lastEpoch, lastOffset] = split(last);
      return epoch !== lastEpoch || offset > lastOffset;
    }

    _delay() {
      // Exponential back-off with full jitter: spreads the reconnections of
      // many clients after a server restart.
      const ceiling = Math.min(this.maxDelay, this.minDelay * 2 ** this.retries);
      return Math.round(Math.random() * ceiling);
    }
  }

  DjangoWebSocket.RETRY_CODES = RETRY_CODES;
  root.DjangoWebSocket = DjangoWebSocket;
  if (typeof module !== "undefined" && module.exports) module.exports = DjangoWebSocket;
})(typeof window !== "undefined" ? window : globalThis);

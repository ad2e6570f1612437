/*
 * <clarion-inbox> — Clarion's in-app inbox as a plain custom element (no build step).
 *
 *   <script src="https://acme.clarion.example/static/clarion/inbox.js" defer></script>
 *   <clarion-inbox host="https://acme.clarion.example"
 *                  subscriber-id="user-1"
 *                  subscriber-hash="<hex HMAC-SHA256(inbox secret, subscriber id), from your server>">
 *   </clarion-inbox>
 *
 * Attributes: `host` — the tenant's Clarion host (default: this page's origin);
 * `subscriber-id`, `subscriber-hash` — whose inbox, and the proof (never the inbox secret);
 * `stream-host` — where the live stream is served, when not on `host` (default: `host`).
 *
 * A bell with the unread count; a click opens the list (and marks everything seen), with
 * "Mark read" per message and "Mark all read". Reads and marks go through the inbox REST API
 * (`X-Subscriber-Hash`); new messages and counts arrive live through
 * `GET /api/v1/inbox/{id}/stream` (Server-Sent Events). EventSource reconnects by itself with
 * `Last-Event-ID`; when the server refuses a reconnect (restart, 503) the element opens a new
 * stream after a growing delay, resuming from the last event it saw. After any reconnect it
 * also reads the list and counts again, so nothing is missed however long it was away.
 *
 * Events: `clarion-inbox:message` (detail: the message) and `clarion-inbox:count`
 * (detail: {unread, unseen}) bubble out of the element.
 */
(() => {
  "use strict";

  const STYLE = `
    :host { position: relative; display: inline-block; font: 14px/1.4 system-ui, sans-serif; color: #1f2328; }
    button { font: inherit; cursor: pointer; }
    .bell { position: relative; border: 0; background: transparent; padding: 6px; border-radius: 8px; }
    .bell:hover { background: #f0f2f5; }
    .bell svg { width: 24px; height: 24px; display: block; }
    .badge { position: absolute; top: 0; right: 0; min-width: 18px; height: 18px; padding: 0 5px;
             box-sizing: border-box; border-radius: 9px; background: #d1242f; color: #fff;
             font-size: 11px; font-weight: 600; line-height: 18px; text-align: center; }
    .badge[hidden] { display: none; }
    .panel { position: absolute; right: 0; top: calc(100% + 6px); width: 340px; max-height: 420px;
             overflow: auto; background: #fff; border: 1px solid #d0d7de; border-radius: 10px;
             box-shadow: 0 8px 24px rgba(140, 149, 159, .2); z-index: 1000; }
    .panel[hidden] { display: none; }
    header { display: flex; align-items: center; justify-content: space-between; padding: 10px 12px;
             border-bottom: 1px solid #d0d7de; font-weight: 600; }
    header button, li button { border: 0; background: none; color: #0969da; padding: 0; font-size: 12px; }
    header button:disabled { color: #8c959f; cursor: default; }
    ul { list-style: none; margin: 0; padding: 0; }
    li { padding: 10px 12px; border-bottom: 1px solid #eaeef2; }
    li.unread { background: #f6f8fa; }
    li.unread .title::before { content: ""; display: inline-block; width: 8px; height: 8px;
             margin-right: 6px; border-radius: 50%; background: #0969da; }
    .title { font-weight: 600; }
    .body { margin: 2px 0 4px; white-space: pre-wrap; overflow-wrap: anywhere; }
    .meta { display: flex; gap: 10px; align-items: center; color: #656d76; font-size: 12px; }
    .meta a { color: #0969da; }
    .empty, .error { padding: 16px 12px; color: #656d76; }
  `;
  const BELL = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" ' +
    'aria-hidden="true"><path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9"/>' +
    '<path d="M13.73 21a2 2 0 0 1-3.46 0"/></svg>';
  const PAGE_SIZE = 20;

  class ClarionInbox extends HTMLElement {
    static get observedAttributes() {
      return ["host", "subscriber-id", "subscriber-hash", "stream-host"];
    }

    constructor() {
      super();
      this.messages = new Map(); // id -> message, newest first by insertion order below
      this.counts = { unread: 0, unseen: 0 };
      this.source = null;
      this.lastEventId = "";
      this.retryDelay = 1000;
      this.retryTimer = null;
      const root = this.attachShadow({ mode: "open" });
      root.innerHTML = `<style>${STYLE}</style>
        <button class="bell" part="bell" type="button" aria-haspopup="true" aria-expanded="false">
          ${BELL}<span class="badge" part="badge" hidden>0</span>
        </button>
        <div class="panel" part="panel" role="dialog" aria-label="Notifications" hidden>
          <header><span>Notifications</span>
            <button class="read-all" part="read-all" type="button">Mark all read</button></header>
          <ul part="list"></ul>
        </div>`;
      this.bell = root.querySelector(".bell");
      this.badge = root.querySelector(".badge");
      this.panel = root.querySelector(".panel");
      this.list = root.querySelector("ul");
      this.readAllButton = root.querySelector(".read-all");
      this.bell.addEventListener("click", () => this.toggle());
      this.readAllButton.addEventListener("click", () => this.markAllRead());
    }

    connectedCallback() { this.start(); }
    disconnectedCallback() { this.stop(); }
    attributeChangedCallback(name, before, after) {
      if (before !== after && this.isConnected) this.start();
    }

    get host() { return (this.getAttribute("host") || window.location.origin).replace(/\/+$/, ""); }
    get streamHost() { return (this.getAttribute("stream-host") || this.host).replace(/\/+$/, ""); }
    get subscriberId() { return this.getAttribute("subscriber-id") || ""; }
    get subscriberHash() { return this.getAttribute("subscriber-hash") || ""; }
    get base() { return `/api/v1/inbox/${encodeURIComponent(this.subscriberId)}`; }

    start() {
      this.stop();
      if (!this.subscriberId || !this.subscriberHash) return;
      this.messages.clear();
      this.lastEventId = "";
      this.streamed = false;
      this.load();
      this.listen();
    }

    stop() {
      if (this.source) this.source.close();
      this.source = null;
      clearTimeout(this.retryTimer);
    }

    async api(path, options = {}) {
      const response = await fetch(this.host + this.base + path, {
        ...options,
        headers: { "X-Subscriber-Hash": this.subscriberHash, Accept: "application/json" },
        credentials: "omit",
      });
      if (!response.ok) throw new Error(`Clarion inbox: ${response.status} on ${path}`);
      return response.json();
    }

    async load() {
      try {
        const [page, counts] = await Promise.all([
          this.api(`/messages?limit=${PAGE_SIZE}`), this.api("/count"),
        ]);
        // Anything the stream delivered meanwhile stays; the page fills in behind it.
        for (const message of page.results) {
          if (!this.messages.has(message.id)) this.messages.set(message.id, message);
        }
        this.setCounts(counts);
        this.render();
      } catch (error) {
        this.renderError(error);
      }
    }

    async refreshCount() {
      try { this.setCounts(await this.api("/count")); } catch (error) { /* the stream will tell */ }
    }

    listen() {
      let url = `${this.streamHost}${this.base}/stream?hash=${encodeURIComponent(this.subscriberHash)}`;
      if (this.lastEventId) url += `&last_event_id=${encodeURIComponent(this.lastEventId)}`;
      const source = new EventSource(url);
      this.source = source;
      const remember = (event) => { if (event.lastEventId) this.lastEventId = event.lastEventId; };
      source.addEventListener("open", () => {
        this.retryDelay = 1000;
        // After a reconnect the stream replays what it kept; the REST API has everything
        // (a long absence, a restarted Redis), so the list and counts are read again too.
        if (this.streamed) this.load();
        this.streamed = true;
      });
      source.addEventListener("message", (event) => {
        remember(event);
        const message = JSON.parse(event.data);
        this.messages = new Map([[message.id, message], ...this.messages]);
        this.render();
        this.emit("message", message);
      });
      source.addEventListener("count", (event) => {
        remember(event);
        this.setCounts(JSON.parse(event.data));
      });
      source.addEventListener("error", () => {
        // CONNECTING: the browser retries by itself. CLOSED: it gave up (an HTTP error).
        if (source.readyState !== EventSource.CLOSED || this.source !== source) return;
        this.retryTimer = setTimeout(() => {
          if (this.source === source && this.isConnected) this.listen();
        }, this.retryDelay);
        this.retryDelay = Math.min(this.retryDelay * 2, 30000);
      });
    }

    setCounts(counts) {
      this.counts = { unread: counts.unread, unseen: counts.unseen };
      this.badge.textContent = counts.unread > 99 ? "99+" : String(counts.unread);
      this.badge.hidden = counts.unread === 0;
      this.bell.setAttribute("aria-label", `Notifications, ${counts.unread} unread`);
      this.readAllButton.disabled = counts.unread === 0;
      this.setAttribute("unread", String(counts.unread));
      this.emit("count", this.counts);
    }

    toggle() {
      const open = this.panel.hidden;
      this.panel.hidden = !open;
      this.bell.setAttribute("aria-expanded", String(open));
      if (open && this.counts.unseen > 0) {
        this.api("/seen-all", { method: "POST" }).then(() => this.refreshCount(), () => {});
      }
    }

    async markRead(id) {
      try {
        const message = await this.api(`/messages/${id}/read`, { method: "POST" });
        this.messages.set(id, message);
        this.render();
        await this.refreshCount();
      } catch (error) {
        this.renderError(error);
      }
    }

    async markAllRead() {
      try {
        await this.api("/read-all", { method: "POST" });
        for (const message of this.messages.values()) message.read = message.seen = true;
        this.render();
        await this.refreshCount();
      } catch (error) {
        this.renderError(error);
      }
    }

    emit(name, detail) {
      this.dispatchEvent(new CustomEvent(`clarion-inbox:${name}`, { detail, bubbles: true, composed: true }));
    }

    render() {
      this.list.replaceChildren();
      if (this.messages.size === 0) {
        const empty = document.createElement("li");
        empty.className = "empty";
        empty.textContent = "No notifications yet.";
        this.list.append(empty);
        return;
      }
      for (const message of this.messages.values()) this.list.append(this.item(message));
    }

    item(message) {
      const li = document.createElement("li");
      li.className = message.read ? "read" : "unread";
      li.setAttribute("part", "item");
      li.dataset.id = String(message.id);
      const title = document.createElement("div");
      title.className = "title";
      title.textContent = message.title || "";
      const body = document.createElement("div");
      body.className = "body";
      body.textContent = message.body || "";
      const meta = document.createElement("div");
      meta.className = "meta";
      const time = document.createElement("time");
      time.dateTime = message.created_at;
      time.textContent = new Date(message.created_at).toLocaleString();
      meta.append(time);
      if (/^https?:\/\//i.test(message.cta_url || "")) {
        const link = document.createElement("a");
        link.href = message.cta_url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        link.textContent = "Open";
        link.addEventListener("click", () => { if (!message.read) this.markRead(message.id); });
        meta.append(link);
      }
      if (!message.read) {
        const read = document.createElement("button");
        read.type = "button";
        read.className = "mark-read";
        read.setAttribute("part", "mark-read");
        read.textContent = "Mark read";
        read.addEventListener("click", () => this.markRead(message.id));
        meta.append(read);
      }
      li.append(title, body, meta);
      return li;
    }

    renderError(error) {
      console.warn(error);
      if (this.messages.size) return;
      this.list.replaceChildren();
      const li = document.createElement("li");
      li.className = "error";
      li.textContent = "Notifications could not be loaded.";
      this.list.append(li);
    }
  }

  if (!customElements.get("clarion-inbox")) customElements.define("clarion-inbox", ClarionInbox);
})();

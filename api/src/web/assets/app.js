// runnel's pages: live statuses and durations, and step logs (windows, live tail, ANSI
// colours). The server renders every page; this script only keeps it current. Text that
// comes from events goes into the page as text nodes, never as HTML; HTML is only what the
// server rendered (and escaped).
'use strict';

const FINAL = new Set(['Succeeded', 'Failed', 'Cancelled', 'Skipped']);
/** The most lines a log keeps while it follows a step; older ones can be loaded again. */
const MAX_LINES = 3000;

function rank(status) {
  if (FINAL.has(status)) return 3;
  return { Pending: 0, Queued: 1, Running: 2 }[status] ?? 0;
}

function statusClass(status) {
  return 'st-' + String(status).toLowerCase();
}

/** Sets the `st-*` class of `el`. */
function setStatusClass(el, status) {
  for (const c of [...el.classList]) if (c.startsWith('st-')) el.classList.remove(c);
  el.classList.add(statusClass(status));
}

/** Sets a badge (or an SVG tspan) to `status`. */
function setBadge(badge, status) {
  if (!badge) return;
  if (badge.classList.contains('badge')) setStatusClass(badge, status);
  badge.textContent = status;
}

/** Like the server's `html::duration`. */
function formatDuration(ms) {
  ms = Math.max(0, ms);
  if (ms < 1000) return ms + 'ms';
  if (ms < 60000) return (ms / 1000).toFixed(1) + 's';
  const pad = (n) => String(n).padStart(2, '0');
  if (ms < 3600000) return Math.floor(ms / 60000) + 'm ' + pad(Math.floor(ms / 1000) % 60) + 's';
  return Math.floor(ms / 3600000) + 'h ' + pad(Math.floor(ms / 60000) % 60) + 'm';
}

function tickDurations() {
  for (const el of document.querySelectorAll('[data-role="duration"][data-start]')) {
    if (el.dataset.end) continue;
    el.textContent = formatDuration(Date.now() - Date.parse(el.dataset.start));
  }
}

/** Sets when something started and ended on a duration element. */
function setDuration(el, start, end) {
  if (!el) return;
  if (start) el.dataset.start = start;
  if (end) el.dataset.end = end;
  if (el.dataset.start) {
    const to = el.dataset.end ? Date.parse(el.dataset.end) : Date.now();
    el.textContent = formatDuration(to - Date.parse(el.dataset.start));
  }
}

/** A `<time>` like the server's. */
function timeElement(iso) {
  const t = document.createElement('time');
  t.dateTime = iso;
  t.textContent = iso.slice(0, 19).replace('T', ' ') + ' UTC';
  return t;
}

/** Parses HTML the server rendered into its first element. */
function fragment(html) {
  const tpl = document.createElement('template');
  tpl.innerHTML = html;
  return tpl.content.firstElementChild;
}

// ---- ANSI colours: the same rules as the server's `web::ansi`. ----

const CUBE = [0, 95, 135, 175, 215, 255];

function nearestPalette(r, g, b) {
  const level = (v) => {
    let best = 0;
    for (let i = 1; i < 6; i++) if (Math.abs(CUBE[i] - v) < Math.abs(CUBE[best] - v)) best = i;
    return best;
  };
  const ri = level(r), gi = level(g), bi = level(b);
  const dist = (x, y, z) => (x - r) ** 2 + (y - g) ** 2 + (z - b) ** 2;
  const avg = Math.floor((r + g + b) / 3);
  const grayIndex = Math.min(23, Math.floor(Math.max(0, avg - 8) / 10));
  const gray = 8 + 10 * grayIndex;
  if (dist(gray, gray, gray) < dist(CUBE[ri], CUBE[gi], CUBE[bi])) return 232 + grayIndex;
  return 16 + 36 * ri + 6 * gi + bi;
}

class AnsiStyle {
  constructor() { this.reset(); }

  reset() {
    this.fg = null; this.bg = null;
    this.bold = this.dim = this.italic = this.underline = this.strike = this.inverse = false;
  }

  key() { return this.classes(); }

  apply(params) {
    const codes = params.split(/[;:]/).map((p) => parseInt(p, 10) || 0);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) this.reset();
      else if (c === 1) this.bold = true;
      else if (c === 2) this.dim = true;
      else if (c === 3) this.italic = true;
      else if (c === 4) this.underline = true;
      else if (c === 7) this.inverse = true;
      else if (c === 9) this.strike = true;
      else if (c === 22) this.bold = this.dim = false;
      else if (c === 23) this.italic = false;
      else if (c === 24) this.underline = false;
      else if (c === 27) this.inverse = false;
      else if (c === 29) this.strike = false;
      else if (c >= 30 && c <= 37) this.fg = c - 30;
      else if (c >= 40 && c <= 47) this.bg = c - 40;
      else if (c >= 90 && c <= 97) this.fg = c - 90 + 8;
      else if (c >= 100 && c <= 107) this.bg = c - 100 + 8;
      else if (c === 39) this.fg = null;
      else if (c === 49) this.bg = null;
      else if (c === 38 || c === 48) {
        const rest = codes.slice(i + 1);
        let colour = null, used = 0;
        if (rest[0] === 5 && rest.length >= 2) {
          colour = rest[1] <= 255 ? rest[1] : null; used = 2;
        } else if (rest[0] === 2 && rest.length >= 4) {
          const ch = (v) => Math.min(255, v);
          colour = nearestPalette(ch(rest[1]), ch(rest[2]), ch(rest[3])); used = 4;
        } else if (rest[0] === 5) used = 1;
        else if (rest[0] === 2) used = rest.length;
        if (colour !== null) { if (c === 38) this.fg = colour; else this.bg = colour; }
        i += used;
      }
    }
  }

  classes() {
    let fg = this.fg === null ? '' : String(this.fg);
    let bg = this.bg === null ? '' : String(this.bg);
    if (this.inverse) [fg, bg] = [bg || 'inv', fg || 'inv'];
    const out = [];
    if (fg) out.push('ansi-fg-' + fg);
    if (bg) out.push('ansi-bg-' + bg);
    if (this.bold) out.push('ansi-bold');
    if (this.dim) out.push('ansi-dim');
    if (this.italic) out.push('ansi-italic');
    if (this.underline) out.push('ansi-underline');
    if (this.strike) out.push('ansi-strike');
    return out.join(' ');
  }
}

function isControl(code) {
  return (code < 0x20 && code !== 9) || (code >= 0x7f && code <= 0x9f);
}

/** Appends `text` to `parent` with its colours as spans. */
function renderAnsi(parent, text) {
  const trimmed = text.replace(/\r+$/, '');
  const cr = trimmed.lastIndexOf('\r');
  text = cr >= 0 ? trimmed.slice(cr + 1) : trimmed;
  const style = new AnsiStyle();
  let span = null;
  const flush = (piece) => {
    if (!piece) return;
    const classes = style.classes();
    if (!classes) { parent.append(document.createTextNode(piece)); return; }
    if (!span) {
      span = document.createElement('span');
      span.className = classes;
      parent.append(span);
    }
    span.append(document.createTextNode(piece));
  };
  let i = 0, plain = 0;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (code !== 0x1b && !isControl(code)) { i++; continue; }
    flush(text.slice(plain, i));
    if (code === 0x1b) {
      const next = text[i + 1];
      if (next === '[') {
        let j = i + 2;
        while (j < text.length && !(text.charCodeAt(j) >= 0x40 && text.charCodeAt(j) <= 0x7e)) j++;
        if (j < text.length && text[j] === 'm') {
          const before = style.key();
          style.apply(text.slice(i + 2, j));
          if (style.key() !== before) span = null;
        }
        i = Math.min(j + 1, text.length);
      } else if (next === ']') {
        let j = i + 2, end = text.length;
        while (j < text.length) {
          if (text.charCodeAt(j) === 7) { end = j + 1; break; }
          if (text.charCodeAt(j) === 0x1b && text[j + 1] === '\\') { end = j + 2; break; }
          j++;
        }
        i = end;
      } else {
        i += next === undefined ? 1 : 2;
      }
    } else {
      i++;
    }
    plain = i;
  }
  flush(text.slice(plain));
}

// ---- A step's log: a window of lines, earlier windows, the live tail. ----

function shown(n) {
  return n === 1 ? '1 line shown' : n + ' lines shown';
}

class LogView {
  constructor(el) {
    this.el = el;
    this.lines = el.querySelector('.lines');
    this.earlier = el.querySelector('[data-role="earlier"]');
    this.info = el.querySelector('[data-role="info"]');
    this.source = null;
    this.followed = false;
    this.pending = [];
    this.flushing = false;
    this.loading = false;
    this.earlier.addEventListener('click', () => this.loadEarlier());
    const times = el.querySelector('[data-role="times"]');
    times.addEventListener('change', () => el.classList.toggle('show-ts', times.checked));
    this.scrollToEnd();
  }

  get start() { return Number(this.el.dataset.start || 0); }
  set start(v) { this.el.dataset.start = String(v); this.earlier.hidden = !(v > 0); }
  get end() { return Number(this.el.dataset.end || 0); }
  set end(v) { this.el.dataset.end = String(v); }

  scrollToEnd() { this.lines.scrollTop = this.lines.scrollHeight; }

  async fetchWindow(before) {
    const url = this.el.dataset.window + (before === undefined ? '' : '?before=' + before);
    const resp = await fetch(url);
    if (!resp.ok) throw new Error('GET ' + url + ': ' + resp.status);
    return fragment(await resp.text());
  }

  /** Reads the tail again (a lazy box opened, or a step that ended unseen). */
  async loadTail() {
    if (this.loading || this.source) return;
    this.loading = true;
    try {
      const win = await this.fetchWindow();
      this.lines.replaceChildren(...win.childNodes);
      this.start = Number(win.dataset.start);
      this.end = Number(win.dataset.end);
      this.el.dataset.lazy = '0';
      const n = Number(win.dataset.count);
      this.info.textContent = this.start > 0 ? 'the last ' + n + ' lines'
        : (n === 0 ? 'no output' : n === 1 ? '1 line' : n + ' lines');
      this.scrollToEnd();
    } catch (e) {
      this.info.textContent = String(e.message);
    } finally {
      this.loading = false;
    }
  }

  async loadEarlier() {
    if (this.loading || !(this.start > 0)) return;
    this.loading = true;
    try {
      const win = await this.fetchWindow(this.start);
      const height = this.lines.scrollHeight;
      this.lines.prepend(...win.childNodes);
      this.start = Number(win.dataset.start);
      this.lines.scrollTop += this.lines.scrollHeight - height;
      this.info.textContent = shown(this.lines.childElementCount);
    } catch (e) {
      this.info.textContent = String(e.message);
    } finally {
      this.loading = false;
    }
  }

  /** Follows the running step from where the window ends. */
  follow() {
    if (this.source || this.el.dataset.lazy === '1') return;
    this.el.dataset.follow = '1';
    this.followed = true;
    this.info.textContent = 'following';
    const src = new EventSource(this.el.dataset.live + '?from=' + this.end);
    this.source = src;
    src.addEventListener('line', (e) => {
      const data = JSON.parse(e.data);
      data.offset = Number(e.lastEventId);
      this.pending.push(data);
      this.scheduleFlush();
    });
    src.addEventListener('end', () => {
      src.close();
      this.source = null;
      this.el.dataset.follow = '0';
      this.flush();
      this.info.textContent = shown(this.lines.childElementCount);
    });
    src.addEventListener('error', () => {
      // The browser reconnects by itself (with Last-Event-ID) unless the answer was final.
      if (src.readyState === EventSource.CLOSED) this.source = null;
    });
  }

  scheduleFlush() {
    if (this.flushing) return;
    this.flushing = true;
    setTimeout(() => this.flush(), 50);
  }

  /** Adds the lines received since the last time, keeping at most MAX_LINES. */
  flush() {
    this.flushing = false;
    if (!this.pending.length) return;
    const atEnd = this.lines.scrollTop + this.lines.clientHeight >= this.lines.scrollHeight - 8;
    let batch = this.pending;
    this.pending = [];
    let dropped = null;
    if (batch.length > MAX_LINES) {
      dropped = batch[batch.length - MAX_LINES - 1].offset;
      batch = batch.slice(-MAX_LINES);
    }
    const nodes = batch.map((data) => {
      const line = document.createElement('div');
      line.className = data.stream === 'err' ? 'ln e' : 'ln';
      line.dataset.o = String(data.offset);
      const ts = document.createElement('span');
      ts.className = 'ts';
      ts.textContent = data.at ? data.at.slice(11, 23) : '';
      const tx = document.createElement('span');
      tx.className = 'tx';
      renderAnsi(tx, data.text);
      line.append(ts, tx);
      return line;
    });
    if (dropped !== null) {
      this.lines.replaceChildren();
      this.start = dropped;
    }
    this.lines.append(...nodes);
    this.end = batch[batch.length - 1].offset;
    let extra = this.lines.childElementCount - MAX_LINES;
    while (extra-- > 0) {
      const first = this.lines.firstElementChild;
      if (first.dataset.o) this.start = Number(first.dataset.o);
      first.remove();
    }
    if (atEnd) this.scrollToEnd();
  }
}

const views = new Map();

function initLogs(root) {
  for (const el of root.querySelectorAll('.log')) {
    if (views.has(el)) continue;
    const view = new LogView(el);
    views.set(el, view);
    const details = el.closest('details');
    if (details) {
      details.addEventListener('toggle', () => {
        if (!details.open) return;
        if (el.dataset.lazy === '1') {
          view.loadTail().then(() => { if (el.dataset.follow === '1') view.follow(); });
        }
      });
    }
    if (el.dataset.follow === '1' && el.dataset.lazy !== '1') view.follow();
  }
}

// ---- The run page. ----

function runPage() {
  const root = document.getElementById('run');
  if (!root) return;
  initLogs(root);
  const fetching = new Set();
  let syncTimer = null;

  const section = (id) => document.getElementById('tr-' + id);
  const stepOf = (trId, index) => {
    const s = section(trId);
    return s && s.querySelector('details.step[data-index="' + index + '"]');
  };

  function setRun(status, reason, start, end) {
    const h1 = root.querySelector('h1 [data-role="status"]');
    const current = h1 ? h1.textContent : 'Pending';
    if (rank(status) < rank(current)) return;
    setBadge(h1, status);
    if (reason) root.querySelector('[data-role="reason"]').textContent = reason;
    setDuration(root.querySelector('[data-role="run-duration"] [data-role="duration"]'), start, end);
    const started = root.querySelector('[data-role="started"]');
    if (start && !started.firstChild) started.append(timeElement(start));
    const finished = root.querySelector('[data-role="finished"]');
    if (end && !finished.firstChild) finished.append(timeElement(end));
  }

  function setTaskRun(id, status, start, end) {
    const s = section(id);
    if (!s) return false;
    const badge = s.querySelector('h3 [data-role="status"]');
    if (rank(status) < rank(badge.textContent)) return true;
    setStatusClass(s, status);
    setBadge(badge, status);
    setDuration(s.querySelector('h3 [data-role="duration"]'), start, end);
    return true;
  }

  function setStep(trId, index, status, exitCode, start, end) {
    const d = stepOf(trId, index);
    if (!d) return;
    const badge = d.querySelector('summary [data-role="status"]');
    const before = badge.textContent;
    if (rank(status) < rank(before)) return;
    setStatusClass(d, status);
    setBadge(badge, status);
    if (exitCode !== null && exitCode !== undefined) {
      d.querySelector('[data-role="exit"]').textContent = 'exit ' + exitCode;
    }
    setDuration(d.querySelector('summary [data-role="duration"]'), start, end);
    const el = d.querySelector('.log');
    const view = el && views.get(el);
    if (!view) return;
    if (status === 'Running') {
      if (!d.open) d.open = true;
      el.dataset.follow = '1';
      if (el.dataset.lazy === '1') view.loadTail().then(() => view.follow());
      else view.follow();
    } else if (FINAL.has(status) && !FINAL.has(before) && !view.followed) {
      // It ended unseen: show what it printed.
      if (d.open) view.loadTail(); else el.dataset.lazy = '1';
    }
  }

  async function addTaskRun(id, attempt = 0) {
    if (section(id) || fetching.has(id)) return;
    fetching.add(id);
    try {
      const resp = await fetch(root.dataset.taskruns + id);
      if (resp.status === 404 && attempt < 20) {
        // The record is written a moment after the event.
        fetching.delete(id);
        setTimeout(() => addTaskRun(id, attempt + 1), 250);
        return;
      }
      if (!resp.ok || section(id)) return;
      const el = fragment(await resp.text());
      document.getElementById('taskruns').append(el);
      initLogs(el);
    } finally {
      fetching.delete(id);
    }
  }

  function setDagNode(task, status) {
    if (!task) return;
    for (const g of document.querySelectorAll('#dag g.node')) {
      if (g.dataset.task !== task) continue;
      setStatusClass(g, status);
      setBadge(g.querySelector('[data-role="status"]'), status);
    }
  }

  async function sync() {
    syncTimer = null;
    try {
      const [state, dag] = await Promise.all([
        fetch(root.dataset.state).then((r) => (r.ok ? r.json() : null)),
        fetch(root.dataset.dag).then((r) => (r.ok ? r.text() : null)),
      ]);
      if (dag !== null) document.getElementById('dag').innerHTML = dag;
      if (!state) return;
      setRun(state.status, state.reason, state.started_at, state.finished_at);
      for (const t of state.task_runs) {
        if (!setTaskRun(t.id, t.status, t.started_at, t.finished_at)) {
          addTaskRun(t.id);
          continue;
        }
        for (const s of t.steps) {
          setStep(t.id, s.index, s.status, s.exit_code, s.started_at, s.finished_at);
        }
      }
    } catch (e) {
      // The next event syncs again.
    }
  }

  function scheduleSync(delay = 300) {
    if (syncTimer !== null) return;
    syncTimer = setTimeout(sync, delay);
  }

  const events = new EventSource(root.dataset.events);
  events.addEventListener('open', () => scheduleSync(0));
  events.addEventListener('resync', () => scheduleSync(0));
  events.addEventListener('run', (e) => {
    const d = JSON.parse(e.data);
    if (FINAL.has(d.status)) {
      setRun(d.status, d.reason, null, d.at);
      // Once more after the records settle.
      setTimeout(sync, 1500);
    } else {
      setRun(d.status, d.reason, d.at, null);
    }
    scheduleSync();
  });
  events.addEventListener('taskrun', (e) => {
    const d = JSON.parse(e.data);
    const final = FINAL.has(d.status);
    if (!setTaskRun(d.task_run, d.status, final ? null : d.at, final ? d.at : null)) {
      addTaskRun(d.task_run);
    }
    setDagNode(d.pipeline_task, d.status);
    scheduleSync();
  });
  events.addEventListener('step', (e) => {
    const d = JSON.parse(e.data);
    setStep(d.task_run, d.index, d.status, d.exit_code, null, null);
    scheduleSync();
  });
}

// ---- The runs list. ----

function runsPage() {
  const body = document.getElementById('runs');
  if (!body) return;
  let refreshing = null;

  function refresh() {
    if (refreshing) return;
    refreshing = setTimeout(async () => {
      try {
        const resp = await fetch(body.dataset.rows);
        if (resp.ok) body.innerHTML = await resp.text();
      } finally {
        refreshing = null;
      }
    }, 200);
  }

  const events = new EventSource('/events');
  let opened = false;
  events.addEventListener('open', () => {
    // After a reconnection, what happened meanwhile is read again.
    if (opened) refresh();
    opened = true;
  });
  events.addEventListener('resync', refresh);
  events.addEventListener('run', (e) => {
    const d = JSON.parse(e.data);
    const row = body.querySelector('tr[data-run="' + d.run + '"]');
    if (!row) {
      if (body.dataset.live === 'new') refresh();
      return;
    }
    const badge = row.querySelector('[data-role="status"]');
    if (rank(d.status) < rank(badge.textContent)) return;
    setStatusClass(row, d.status);
    setBadge(badge, d.status);
    const dur = row.querySelector('[data-role="duration"]');
    if (FINAL.has(d.status)) {
      setDuration(dur, null, d.at);
    } else {
      const started = row.querySelector('[data-role="started"]');
      if (!started.firstChild) started.append(timeElement(d.at));
      setDuration(dur, d.at, null);
    }
  });
}

document.addEventListener('DOMContentLoaded', () => {
  const page = document.body.dataset.page;
  if (page === 'run') runPage();
  if (page === 'runs') runsPage();
  setInterval(tickDurations, 1000);
});

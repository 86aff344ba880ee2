// trstream SQL editor: plain JS, no dependencies, works offline.
'use strict';

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};
const SVG = 'http://www.w3.org/2000/svg';
const svg = (tag, attrs = {}) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};

const PAGE = 50;
const HISTORY_KEY = 'trstream.history';
const TOKEN_KEY = 'trstream.token';
const DRAFT_KEY = 'trstream.draft';
const state = { result: null, page: 0, running: false };

// ---- API -----------------------------------------------------------------

async function api(path, opts = {}) {
  const headers = Object.assign({ 'Content-Type': 'application/json' }, opts.headers || {});
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = 'Bearer ' + token;
  const res = await fetch(path, Object.assign({}, opts, { headers }));
  if (res.status === 401) {
    $('#token-form').hidden = false;
    throw new Error('unauthorized: enter the API token');
  }
  if (opts.raw) {
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error || res.statusText);
    return res;
  }
  const body = res.status === 204 ? null : await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

// ---- schema & saved ------------------------------------------------------

async function loadTables() {
  const ul = $('#tables');
  try {
    const { tables } = await api('/v1/tables');
    ul.replaceChildren(...tables.map((t) => {
      const li = el('li', {},
        el('span', { class: 'tname', title: 'Click: show columns, double-click: insert' }, t.name + ' ', el('span', { class: 'kind' }, t.kind)),
        el('ul', {}, ...t.columns.map((c) =>
          el('li', { class: 'col', title: c.name + ' ' + c.type, onclick: () => insert(quoteIdent(c.name)) },
            el('span', {}, c.name), el('i', {}, c.type.toLowerCase())))));
      const name = li.firstChild;
      name.addEventListener('click', () => li.classList.toggle('open'));
      name.addEventListener('dblclick', () => insert(quoteIdent(t.name)));
      if (t.name === 'transactions') li.classList.add('open');
      return li;
    }));
    $('#conn').textContent = 'connected';
  } catch (e) {
    $('#conn').textContent = e.message;
  }
}

async function loadSaved() {
  const ul = $('#saved-list');
  try {
    const { saved } = await api('/v1/saved');
    ul.replaceChildren(...saved.map((q) => el('li', { 'data-name': q.name },
      el('a', { title: (q.error ? 'error: ' + q.error + '\n' : '') + q.sql, onclick: () => { setSQL(q.sql); $('#save-name').value = q.name; } }, q.name),
      el('button', { title: 'Delete ' + q.name, onclick: () => deleteSaved(q.name) }, '✕'))));
    if (!saved.length) ul.replaceChildren(el('li', { class: 'kind' }, 'none yet'));
  } catch (e) { /* shown by loadTables */ }
}

async function saveQuery() {
  const name = $('#save-name').value.trim();
  const sql = $('#sql').value.trim();
  if (!name || !sql) { status('Enter a query and a name (lower case, digits, _) to save it.', true); return; }
  try {
    await api('/v1/saved/' + encodeURIComponent(name), { method: 'PUT', body: JSON.stringify({ sql }) });
    status(`Saved as ${name}; it is also a view: SELECT * FROM ${name}`);
    await Promise.all([loadSaved(), loadTables()]);
  } catch (e) { status(e.message, true); }
}

async function deleteSaved(name) {
  if (!confirm(`Delete saved query ${name}?`)) return;
  try {
    await api('/v1/saved/' + encodeURIComponent(name), { method: 'DELETE' });
    await Promise.all([loadSaved(), loadTables()]);
  } catch (e) { status(e.message, true); }
}

// ---- running -------------------------------------------------------------

function currentSQL() {
  const ta = $('#sql');
  const sel = ta.value.slice(ta.selectionStart, ta.selectionEnd);
  return (sel.trim() ? sel : ta.value).trim();
}

async function run() {
  const sql = currentSQL();
  if (!sql || state.running) return;
  state.running = true;
  $('#run').disabled = true;
  status('Running…');
  const t0 = performance.now();
  try {
    const res = await api('/v1/query', { method: 'POST', body: JSON.stringify({ sql, limit: +$('#limit').value }) });
    state.result = res;
    state.page = 0;
    const ms = res.elapsed_ms.toFixed(1);
    status(`${res.row_count.toLocaleString()} row${res.row_count === 1 ? '' : 's'}${res.truncated ? ' (truncated at the limit; CSV ↓ for all)' : ''} · ${ms} ms`);
    addHistory(sql, res.row_count, Math.round(performance.now() - t0));
    render();
  } catch (e) {
    state.result = null;
    render();
    status(e.message, true);
    addHistory(sql, null, Math.round(performance.now() - t0));
  } finally {
    state.running = false;
    $('#run').disabled = false;
  }
}

async function downloadCSV() {
  const sql = currentSQL();
  if (!sql) return;
  status('Preparing CSV…');
  try {
    const res = await api('/v1/query', { method: 'POST', raw: true, body: JSON.stringify({ sql, format: 'csv' }) });
    const blob = await res.blob();
    const a = el('a', { href: URL.createObjectURL(blob), download: 'trstream-' + new Date().toISOString().replace(/[:.]/g, '-') + '.csv' });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    status(`CSV downloaded (${(blob.size / 1024).toFixed(1)} KiB)`);
  } catch (e) { status(e.message, true); }
}

function status(msg, isErr = false) {
  const s = $('#status');
  s.textContent = msg;
  s.className = isErr ? 'error' : '';
}

// ---- grid ----------------------------------------------------------------

const TIME_T = /^(DATE|TIMESTAMP.*|TIMESTAMPTZ)$/;
const NUM_T = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL.*)$/;
const TEXT_T = /^(VARCHAR|ENUM|BOOLEAN|UUID)$/;

function cell(v) {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function render() {
  renderGrid();
  renderChart();
}

function renderGrid() {
  const grid = $('#grid');
  const r = state.result;
  if (!r || !r.columns || !r.columns.length) { grid.replaceChildren(); $('#pager').hidden = true; return; }
  const pages = Math.max(1, Math.ceil(r.rows.length / PAGE));
  state.page = Math.min(state.page, pages - 1);
  const rows = r.rows.slice(state.page * PAGE, (state.page + 1) * PAGE);
  const num = r.columns.map((c) => NUM_T.test(c.type));
  const explain = r.columns.length === 2 && r.columns[0].name === 'explain_key';
  const table = el('table', {},
    el('thead', {}, el('tr', {}, ...r.columns.map((c) => el('th', {}, c.name, el('small', {}, c.type.toLowerCase()))))),
    el('tbody', {}, ...rows.map((row) => el('tr', {}, ...row.map((v, i) => {
      const td = el('td', { class: (num[i] ? 'num' : '') + (v === null ? ' null' : '') }, cell(v));
      if (explain && i === 1) { td.style.whiteSpace = 'pre'; td.style.maxWidth = 'none'; }
      td.title = cell(v).slice(0, 2000);
      return td;
    })))));
  grid.replaceChildren(table);
  $('#pager').hidden = pages <= 1;
  $('#page').textContent = `page ${state.page + 1} of ${pages} · rows ${state.page * PAGE + 1}–${state.page * PAGE + rows.length}`;
  $('#prev').disabled = state.page === 0;
  $('#next').disabled = state.page >= pages - 1;
}

// ---- chart ---------------------------------------------------------------

// pickChart chooses from the column types: a time column and numeric
// columns make a line chart, a text column and a numeric column bars.
function pickChart(cols, want) {
  const time = cols.findIndex((c) => TIME_T.test(c.type));
  const text = cols.findIndex((c) => TEXT_T.test(c.type));
  const nums = cols.map((c, i) => (NUM_T.test(c.type) ? i : -1)).filter((i) => i >= 0);
  const x = want === 'bar' ? (text >= 0 ? text : time) : (time >= 0 ? time : text);
  const ys = nums.filter((i) => i !== x).slice(0, 3);
  if (x < 0 || !ys.length || want === 'none') return null;
  let kind = want;
  if (kind === 'auto') kind = x === time ? 'line' : 'bar';
  return { kind, x, ys: kind === 'bar' ? ys.slice(0, 1) : ys };
}

function niceTicks(min, max, n = 5) {
  if (min === max) { max = min + 1; min = Math.min(0, min); }
  const step0 = (max - min) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0);
  const lo = Math.floor(min / step) * step;
  const ticks = [];
  for (let v = lo; v <= max + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  if (ticks[ticks.length - 1] < max) ticks.push(+(ticks[ticks.length - 1] + step).toPrecision(12));
  return ticks;
}

function fmtNum(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  return String(+v.toPrecision(6));
}

function renderChart() {
  const box = $('#chart');
  const bar = $('#chart-bar');
  const r = state.result;
  box.replaceChildren();
  if (!r || !r.rows || r.rows.length < 2) { bar.hidden = true; return; }
  const want = $('#chart-kind').value;
  const pick = pickChart(r.columns, want);
  bar.hidden = !pickChart(r.columns, 'auto') && want === 'auto';
  if (!pick) { $('#chart-desc').textContent = want === 'none' ? '' : 'no time/text + numeric columns to chart'; return; }
  const W = Math.max(400, box.clientWidth || 800), H = 240, L = 56, R = 12, T = 12, B = 38;
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-kind': pick.kind });
  const xName = r.columns[pick.x].name;
  $('#chart-desc').textContent = `${pick.kind}: ${pick.ys.map((i) => r.columns[i].name).join(', ')} by ${xName}`;
  const vals = (i) => r.rows.map((row) => (row[i] === null ? NaN : +row[i]));
  const all = pick.ys.flatMap(vals).filter(Number.isFinite);
  if (!all.length) return;
  const ticks = niceTicks(Math.min(0, ...all), Math.max(...all));
  const y0 = ticks[0], y1 = ticks[ticks.length - 1];
  const yPos = (v) => T + (H - T - B) * (1 - (v - y0) / (y1 - y0 || 1));
  for (const t of ticks) {
    s.append(svg('line', { class: 'axis', x1: L, x2: W - R, y1: yPos(t), y2: yPos(t) }));
    const tx = svg('text', { x: L - 6, y: yPos(t) + 4, 'text-anchor': 'end' });
    tx.textContent = fmtNum(t);
    s.append(tx);
  }
  const label = (x, text, anchor = 'middle') => {
    const tx = svg('text', { x, y: H - B + 16, 'text-anchor': anchor });
    tx.textContent = text.length > 14 ? text.slice(0, 13) + '…' : text;
    s.append(tx);
  };
  if (pick.kind === 'line') {
    const isTime = TIME_T.test(r.columns[pick.x].type);
    const xs = r.rows.map((row) => (isTime ? Date.parse(row[pick.x]) : NaN));
    const useIndex = xs.some((v) => !Number.isFinite(v));
    const order = r.rows.map((_, i) => i);
    if (!useIndex) order.sort((a, b) => xs[a] - xs[b]);
    const xv = useIndex ? order.map((i) => i) : order.map((i) => xs[i]);
    const xMin = Math.min(...xv), xMax = Math.max(...xv);
    const xPos = (v) => L + (W - L - R) * ((v - xMin) / (xMax - xMin || 1));
    pick.ys.forEach((yi, si) => {
      const v = vals(yi);
      let d = '';
      order.forEach((ri, k) => {
        if (!Number.isFinite(v[ri])) return;
        d += (d ? 'L' : 'M') + xPos(xv[k]).toFixed(1) + ',' + yPos(v[ri]).toFixed(1);
      });
      s.append(svg('path', { d, class: 's' + si }));
    });
    const n = Math.max(2, Math.min(6, Math.floor((W - L - R) / 110), order.length));
    for (let k = 0; k < n; k++) {
      const v = xMin + (xMax - xMin) * k / (n - 1);
      let text;
      if (useIndex) text = cell(r.rows[order[Math.round(v)]][pick.x]);
      else {
        const iso = new Date(v).toISOString();
        text = xMax - xMin > 3 * 86400e3 ? iso.slice(0, 10) : iso.slice(5, 16).replace('T', ' ');
      }
      label(xPos(v), text, k === 0 ? 'start' : k === n - 1 ? 'end' : 'middle');
    }
  } else {
    const rows = r.rows.slice(0, 40);
    const v = rows.map((row) => (row[pick.ys[0]] === null ? 0 : +row[pick.ys[0]]));
    const slot = (W - L - R) / rows.length;
    const bw = Math.max(2, slot * 0.7);
    rows.forEach((row, i) => {
      const x = L + i * slot + (slot - bw) / 2;
      const top = yPos(Math.max(0, v[i])), bot = yPos(Math.min(0, v[i]));
      const rect = svg('rect', { x: x.toFixed(1), y: top.toFixed(1), width: bw.toFixed(1), height: Math.max(1, bot - top).toFixed(1), class: 's0' });
      const t = svg('title');
      t.textContent = `${cell(row[pick.x])}: ${cell(row[pick.ys[0]])}`;
      rect.append(t);
      s.append(rect);
    });
    const every = Math.ceil(rows.length / Math.max(1, Math.floor((W - L - R) / 70)));
    rows.forEach((row, i) => { if (i % every === 0) label(L + i * slot + slot / 2, cell(row[pick.x])); });
    if (r.rows.length > rows.length) $('#chart-desc').textContent += ` (first ${rows.length})`;
  }
  box.append(s);
}

// ---- history -------------------------------------------------------------

function history() {
  try { return JSON.parse(localStorage.getItem(HISTORY_KEY)) || []; } catch { return []; }
}

function addHistory(sql, rows, ms) {
  const h = history().filter((x) => x.sql !== sql);
  h.unshift({ sql, rows, ms, at: new Date().toISOString() });
  localStorage.setItem(HISTORY_KEY, JSON.stringify(h.slice(0, 50)));
  renderHistory();
}

function renderHistory() {
  const h = history();
  $('#history-list').replaceChildren(...h.map((x) => el('li', {},
    el('a', { title: `${x.at}\n${x.rows === null ? 'error' : x.rows + ' rows'} · ${x.ms} ms\n\n${x.sql}`, onclick: () => setSQL(x.sql) },
      x.sql.replace(/\s+/g, ' ')))));
}

// ---- editor --------------------------------------------------------------

function quoteIdent(name) {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : '"' + name.replace(/"/g, '""') + '"';
}

function insert(text) {
  const ta = $('#sql');
  ta.setRangeText(text, ta.selectionStart, ta.selectionEnd, 'end');
  ta.focus();
}

function setSQL(sql) {
  const ta = $('#sql');
  ta.value = sql;
  localStorage.setItem(DRAFT_KEY, sql);
  ta.focus();
}

function init() {
  const ta = $('#sql');
  ta.value = localStorage.getItem(DRAFT_KEY) || '';
  ta.addEventListener('input', () => localStorage.setItem(DRAFT_KEY, ta.value));
  ta.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') { e.preventDefault(); run(); }
    if (e.key === 'Tab' && !e.shiftKey) { e.preventDefault(); insert('  '); }
  });
  $('#run').addEventListener('click', run);
  $('#csv').addEventListener('click', downloadCSV);
  $('#save').addEventListener('click', saveQuery);
  $('#save-name').addEventListener('keydown', (e) => { if (e.key === 'Enter') saveQuery(); });
  $('#prev').addEventListener('click', () => { state.page--; renderGrid(); });
  $('#next').addEventListener('click', () => { state.page++; renderGrid(); });
  $('#chart-kind').addEventListener('change', renderChart);
  $('#clear-history').addEventListener('click', () => { localStorage.removeItem(HISTORY_KEY); renderHistory(); });
  $('#token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    localStorage.setItem(TOKEN_KEY, $('#token').value);
    $('#token-form').hidden = true;
    loadTables(); loadSaved();
  });
  window.addEventListener('resize', () => { clearTimeout(state.rt); state.rt = setTimeout(renderChart, 150); });
  renderHistory();
  loadTables();
  loadSaved();
}

init();

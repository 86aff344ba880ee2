// Browser test of the SQL editor. Run by the Go test TestBrowser, which
// serves the editor over a small lake and sets TRSTREAM_URL:
//
//   cd plugins/query && go test -run TestBrowser -v .
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const url = process.env.TRSTREAM_URL;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
let userDataDir;
let context;
let page;

before(async () => {
  assert.ok(url, 'TRSTREAM_URL must point at a running trstream serve');
  userDataDir = mkdtempSync(join(tmpdir(), 'trstream-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => { throw e; });
  page.on('dialog', (d) => d.accept());
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

async function runQuery(sql) {
  await page.locator('#sql').fill('');
  await page.locator('#sql').click();
  await page.keyboard.type(sql);
  await page.keyboard.press('Control+Enter');
}

test('schema browser lists the lake', async () => {
  await page.goto(url);
  const tables = page.locator('#tables');
  await tables.locator('.tname', { hasText: 'transactions' }).waitFor();
  await tables.locator('.col', { hasText: 'event_date' }).first().waitFor();
  assert.match(await tables.innerText(), /amount\s+decimal\(18,4\)/);
});

test('Ctrl+Enter runs a query: rows in the grid and a line chart', async () => {
  await runQuery('SELECT event_date, sum(amount) AS total, count(*) AS n FROM transactions GROUP BY 1 ORDER BY 1');
  await page.locator('#status', { hasText: '3 rows' }).waitFor();
  const rows = page.locator('#grid tbody tr');
  assert.equal(await rows.count(), 3);
  assert.equal(await rows.first().locator('td').first().innerText(), '2024-03-01');
  const line = page.locator('#chart svg[data-kind="line"]');
  await line.waitFor();
  assert.equal(await line.locator('path').count(), 2, 'one line per numeric column');
  assert.match(await line.locator('path').first().getAttribute('d'), /^M[\d.]+,[\d.]+L/);
  // switchable: bars, then none
  await page.locator('#chart-kind').selectOption('bar');
  assert.equal(await page.locator('#chart svg[data-kind="bar"] rect').count(), 3);
  await page.locator('#chart-kind').selectOption('none');
  assert.equal(await page.locator('#chart svg').count(), 0);
  await page.locator('#chart-kind').selectOption('auto');
});

test('a text category and a number make a bar chart', async () => {
  await runQuery('SELECT type, count(*) AS n FROM transactions GROUP BY 1 ORDER BY 1');
  await page.locator('#chart svg[data-kind="bar"]').waitFor();
  assert.equal(await page.locator('#chart svg rect').count(), 3);
});

test('paging through a result', async () => {
  await runQuery('SELECT range AS i FROM range(120)');
  await page.locator('#status', { hasText: '120 rows' }).waitFor();
  assert.equal(await page.locator('#grid tbody tr').count(), 50);
  assert.match(await page.locator('#page').innerText(), /page 1 of 3/);
  await page.locator('#next').click();
  assert.equal(await page.locator('#grid tbody tr').first().locator('td').innerText(), '50');
});

test('a refused statement shows DuckDB\'s reason', async () => {
  await runQuery("COPY transactions TO 'x.csv'");
  await page.locator('#status.error').waitFor();
  assert.match(await page.locator('#status').innerText(), /refused|Permission/);
});

test('save a query, reload, find it (and the history)', async () => {
  const sql = 'SELECT event_date, sum(amount) AS total FROM transactions GROUP BY 1 ORDER BY 1';
  await runQuery(sql);
  await page.locator('#status', { hasText: '3 rows' }).waitFor();
  await page.locator('#save-name').fill('daily_totals');
  await page.locator('#save').click();
  await page.locator('#saved-list li[data-name="daily_totals"]').waitFor();

  await page.reload();
  const item = page.locator('#saved-list li[data-name="daily_totals"] a');
  await item.waitFor();
  await page.locator('#tables .tname', { hasText: 'daily_totals' }).waitFor();
  assert.match(await page.locator('#history-list').innerText(), /sum\(amount\)/);
  await page.locator('#sql').fill('');
  await item.click();
  assert.equal(await page.locator('#sql').inputValue(), sql);
  // the saved query is a view
  await runQuery('SELECT * FROM daily_totals');
  await page.locator('#status', { hasText: '3 rows' }).waitFor();
});

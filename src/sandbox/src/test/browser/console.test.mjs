// The operator console in Chromium (Playwright's playwright-core driving Debian's /usr/bin/chromium).
// Started by ConsoleBrowserTest, which starts the sandbox and the connector and passes, as environment
// variables: CONSOLE_URL, CONSOLE_USER, CONSOLE_PASSWORD, CHROMIUM, SCREENSHOTS (a folder), PC_ADMIN and
// DV_ADMIN (the emulators' admin APIs, HTTPS with the sandbox CA in NODE_EXTRA_CA_CERTS) and CHF_REFERRAL
// (a referral in a currency Dataverse has no row for). Prints one line per step; exit code 1 on a failure.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const env = (name) => {
  const v = process.env[name];
  if (!v) { throw new Error(`${name} is not set`); }
  return v;
};
const base = env('CONSOLE_URL').replace(/\/$/, '');
const shots = env('SCREENSHOTS');
const started = Date.now();
const steps = [];

async function step(name, fn) {
  const t = Date.now();
  try {
    await fn();
    steps.push([name, true]);
    console.log(`ok   ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    steps.push([name, false]);
    console.log(`FAIL ${name}: ${e.stack || e}`);
    throw e;
  }
}

async function admin(method, url, body) {
  const r = await fetch(url, { method, headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${url}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  headless: true,
  // As root on a machine whose network is closed: no sandbox, no GPU, no background connections.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions'],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('dialog', (d) => d.accept());
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') { consoleErrors.push(m.text()); } });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  await step('an unauthenticated visit goes to the sign-in page', async () => {
    await page.goto(`${base}/`);
    assert.match(page.url(), /\/login$/);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
  });

  await step('a wrong password is refused', async () => {
    await page.fill('input[name=username]', env('CONSOLE_USER'));
    await page.fill('input[name=password]', 'not-the-password');
    const [answer] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'),
      page.click('button[type=submit]')]);
    assert.equal(answer.status(), 401);
    await page.locator('#login-error').waitFor();
    assert.match(await page.locator('#login-error').innerText(), /Wrong user name or password/);
    await shot('login');
    // the overview stays out of reach
    await page.goto(`${base}/`);
    assert.match(page.url(), /\/login$/);
  });

  await step('sign in and see the overview', async () => {
    await page.fill('input[name=username]', env('CONSOLE_USER'));
    await page.fill('input[name=password]', env('CONSOLE_PASSWORD'));
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/`);
    consoleErrors.length = 0; // the refused sign-in's 401 above is the one expected
    await page.locator('h1', { hasText: 'Overview' }).waitFor();
    const pcCard = page.locator('article.system[data-system="Partner Center"]');
    assert.match(await pcCard.innerText(), /UP/);
    assert.match(await pcCard.innerText(), /Circuit breaker: CLOSED/);
    assert.match(await page.locator('article.system[data-system="Dataverse"]').innerText(), /UP/);
    assert.notEqual((await page.locator('#pc-user').innerText()).trim(), 'no token yet');
    assert.equal(await page.locator('#dead-letter-count').innerText(), '0');
    // both charts drawn by Chart.js
    await page.waitForFunction(() => window.Chart && window.Chart.getChart(document.getElementById('sync-chart'))
      && window.Chart.getChart(document.getElementById('api-chart')));
    await shot('overview');
  });

  let referralId;
  await step('find a synced record, see both sides and its timeline, sync it now', async () => {
    await page.click('nav >> text=Records');
    await page.fill('input[name=q]', 'fabrikam');
    await page.click('button:has-text("Search")');
    const row = page.locator('#records tbody tr').first();
    await row.waitFor();
    assert.match(await row.innerText(), /Fabrikam Inc/);
    referralId = (await row.locator('td:nth-child(2) code').innerText()).trim();
    await row.locator('a').first().click();
    await page.locator('#side-by-side').waitFor();
    const table = await page.locator('#side-by-side').innerText();
    assert.match(table, /estimatedvalue/);
    assert.match(table, /120000/);
    assert.match(await page.locator('#timeline').innerText(), /created/);
    await page.click('#sync-now');
    await page.locator('#sync-queued').waitFor();
    // the console's own line, by the signed-in user, with the correlation id the flow used
    await page.locator('#timeline tr', { hasText: 'sync-now' }).waitFor();
    assert.match(await page.locator('#timeline tr', { hasText: 'sync-now' }).innerText(), new RegExp(env('CONSOLE_USER')));
    await shot('records');
  });

  let francsId;
  await step('a referral in an unknown currency becomes a dead letter', async () => {
    const referral = JSON.parse(readFileSync(env('CHF_REFERRAL'), 'utf8'));
    francsId = (await admin('POST', `${env('PC_ADMIN')}/referrals`, referral)).id;
    await page.click('nav >> text=Dead letters');
    const deadline = Date.now() + 30000;
    while (!(await page.locator('#dead-letters tr', { hasText: 'CHF' }).count()) && Date.now() < deadline) {
      await page.waitForTimeout(500);
      await page.reload();
    }
    const row = page.locator('#dead-letters tr', { hasText: 'CHF' });
    await row.waitFor();
    assert.match(await row.innerText(), /unknown currency 'CHF'/);
    await shot('dead-letters');
    await row.locator('a', { hasText: 'Inspect' }).click();
    assert.match(await page.locator('#letter-body').innerText(), new RegExp(francsId));
    await shot('dead-letter');
  });

  await step('the mapping preview explains the mapping error, writing nothing', async () => {
    await page.goto(`${base}/mapping?referral=${francsId}`);
    const error = page.locator('article[data-mapping="referral-to-opportunity-update"] .mapping-error');
    await error.waitFor();
    assert.match(await error.innerText(), /CHF/);
    await shot('mapping-error');
  });

  await step('fix the cause, replay the dead letter: the opportunity appears in the emulator', async () => {
    await admin('POST', `${env('DV_ADMIN')}/rows/transactioncurrencies`, [{ transactioncurrencyid: 'c0000000-0000-4000-8000-000000000756',
      isocurrencycode: 'CHF', currencyname: 'Swiss Franc', currencysymbol: 'CHF' }]);
    await page.click('nav >> text=Dead letters');
    const row = page.locator('#dead-letters tr', { hasText: 'CHF' });
    await row.locator('button.replay').click();
    const outcome = row.locator('.replay-outcome');
    await outcome.filter({ hasText: /applied|failed again/ }).waitFor({ timeout: 25000 });
    assert.match(await outcome.innerText(), /applied: created/);
    await shot('dead-letter-replayed');
    const opportunities = await admin('GET', `${env('DV_ADMIN')}/rows/opportunities`);
    const opp = opportunities.find((o) => o.cosell_referralid === francsId);
    assert.ok(opp, `no opportunity for referral ${francsId} in the Dataverse emulator`);
    assert.equal(opp._transactioncurrencyid_value, 'c0000000-0000-4000-8000-000000000756');
  });

  await step('run a mapping preview on a synced referral', async () => {
    await page.click('nav >> text=Mapping preview');
    await page.fill('input[name=referral]', referralId);
    await page.click('#preview');
    const section = page.locator('article[data-mapping="referral-to-opportunity-update"]');
    await section.waitFor();
    assert.match(await page.locator('#preview-summary').innerText(), /Decision: (UPDATE|OWN_WRITE)/);
    assert.match(await section.innerText(), /estimatedvalue/);
    assert.match(await section.innerText(), /0 field\(s\) would change/);
    await shot('mapping');
  });

  await step('start a dry-run backfill and watch the progress reach 100 %', async () => {
    await page.click('nav >> text=Backfill');
    await page.click('#start-dry-run');
    await page.locator('#run-percent', { hasText: '100 %' }).waitFor({ timeout: 30000 });
    assert.equal(await page.locator('#run-bar').getAttribute('value'), '100');
    const plan = await page.locator('#plan').innerText();
    assert.match(plan, /unchanged/);
    assert.ok((await page.locator('#plan tbody tr').count()) >= 4, 'a plan line per referral');
    await page.reload();
    assert.match(await page.locator('#runs').innerText(), new RegExp(`dry run.*finished.*console: ${env('CONSOLE_USER')}`));
    await shot('backfill');
  });

  await step('the overview counts the sync and no script error occurred', async () => {
    await page.click('nav >> text=Overview');
    assert.equal(await page.locator('#dead-letter-count').innerText(), '0');
    assert.deepEqual(consoleErrors, []);
  });

  await step('sign out', async () => {
    await page.click('nav button:has-text("sign out")');
    await page.waitForURL(/\/login$/);
    await page.goto(`${base}/records`);
    assert.match(page.url(), /\/login$/);
  });
} catch (e) {
  failed = true;
} finally {
  await browser.close();
}
const passed = steps.filter((s) => s[1]).length;
console.log(`console browser steps: ${passed} passed, ${steps.length - passed} failed, in ${Math.round((Date.now() - started) / 1000)} s`);
process.exit(failed ? 1 : 0);

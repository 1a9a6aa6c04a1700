// The console's scenarios in Chromium (playwright-core, /usr/bin/chromium): every page is
// checked with axe-core (no serious or critical violation), screenshotted into $OUT, and
// watched for dialogs (an XSS payload that ran would open one).
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const { CONSOLE_URL, EMAIL, PASSWORD, OUT, OTHER_EMAIL } = process.env;
const failures = [];
const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failures.push(what); };

async function audit(page, name) {
  // axe-core is injected through the driver, not the page: the page's CSP allows no script.
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => await globalThis.axe.run(document));
  const bad = result.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
  check(bad.length === 0, `${name}: no serious/critical axe violation ${bad.map((v) => v.id).join(' ')}`);
  for (const width of [375, 1280]) {
    await page.setViewportSize({ width, height: 800 });
    await page.screenshot({ path: `${OUT}/${name}-${width}.png`, fullPage: true });
  }
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
for (const scheme of ['light', 'dark']) {
  const context = await browser.newContext({ colorScheme: scheme });
  const page = await context.newPage();
  let dialogs = 0;
  page.on('dialog', async (d) => { dialogs += 1; await d.dismiss(); });

  await page.goto(`${CONSOLE_URL}/`);
  check(page.url().endsWith('/sign-in'), `${scheme}: signed out, / sends to sign-in`);
  await audit(page, `sign-in-${scheme}`);

  // XSS corpus through the one reflected value so far: the email field.
  const payload = '"><img src=x onerror=alert(1)><script>alert(2)</script>';
  await page.fill('#email', payload);
  await page.fill('#password', 'wrong password');
  // Past the browser's own email check, so the payload reaches the console and the API.
  await page.locator('form').evaluate((f) => { f.noValidate = true; });
  await page.click('button[type=submit]');
  await page.waitForLoadState();
  check((await page.inputValue('#email')) === payload, `${scheme}: the hostile email comes back as text`);
  check((await page.locator('img').count()) === 0, `${scheme}: no <img> was injected`);
  check((await page.locator('[role=alert]').count()) === 1, `${scheme}: the API's refusal is shown`);
  await audit(page, `sign-in-error-${scheme}`);

  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${CONSOLE_URL}/`);
  check((await page.locator('h1').innerText()) === 'Dashboard', `${scheme}: signed in, on the dashboard`);
  check((await page.locator('svg.chart').count()) === 1, `${scheme}: the clicks chart is drawn`);
  check((await page.content()).includes('Owner &lt;b&gt;'), `${scheme}: the member's name is escaped`);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'gl_session');
  check(session && session.httpOnly && session.sameSite === 'Lax', `${scheme}: session cookie HttpOnly, SameSite=Lax`);
  await audit(page, `dashboard-${scheme}`);

  // Links: create one with tags (one hostile), see it in the table; a bad URL is refused inline.
  await page.click('a[href="/links"]');
  await page.waitForURL(`${CONSOLE_URL}/links`);
  const tag = `<script>alert(3)</script>${scheme}`;
  await page.fill('#url', `https://example.org/${scheme}?q="><img/src=x/onerror=alert(4)>`);
  await page.fill('#alias', `tagged-${scheme}`);
  await page.fill('#tags', `docs, ${tag}`);
  await page.click('form[aria-labelledby=create-h] button[type=submit]');
  await page.waitForURL(`${CONSOLE_URL}/links`);
  const row = page.locator('tr', { hasText: `tagged-${scheme}` });
  const refused = await page.locator('#create-error').allInnerTexts();
  check((await row.count()) === 1, `${scheme}: the new link is in the table ${refused.join(' ')}`);
  if ((await row.count()) !== 1) { process.exit(1); }
  check((await row.innerText()).includes(tag), `${scheme}: its hostile tag shows as text`);
  check((await page.locator('main img').count()) === 0, `${scheme}: no <img> was injected in the table`);
  await page.fill('#q', `tagged-${scheme}`);
  await page.click('form[role=search] button');
  check((await page.locator('tbody tr').count()) === 1, `${scheme}: search finds it`);
  await audit(page, `links-${scheme}`);
  await page.fill('#url', 'https://example.org/x');
  await page.fill('#alias', 'no spaces allowed');
  await page.click('form[aria-labelledby=create-h] button[type=submit]');
  const err = page.locator('#create-error');
  check((await err.count()) === 1 && (await err.innerText()).includes('alias'), `${scheme}: the API's refusal is shown inline`);
  check((await page.inputValue('#alias')) === 'no spaces allowed', `${scheme}: what was typed is kept`);
  await audit(page, `links-error-${scheme}`);

  // The link's page: chart, breakdowns, QR, edit the destination.
  await page.goto(`${CONSOLE_URL}/links`);
  await page.click(`a[href="/links/tagged-${scheme}"]`);
  await page.waitForURL(`${CONSOLE_URL}/links/tagged-${scheme}`);
  check((await page.locator('svg.chart').count()) === 1, `${scheme}: the link's chart is drawn`);
  check((await page.locator('h3').count()) === 4, `${scheme}: four breakdowns`);
  // Through the context (its cookies): the page itself may not fetch (CSP: no connect-src).
  const qr = (await context.request.get(`${CONSOLE_URL}/links/tagged-${scheme}/qr.svg`)).headers()['content-type'];
  check(await page.locator('img[alt^="QR code"]').evaluate((i) => i.complete && i.naturalWidth > 0), `${scheme}: the QR preview loads`);
  check(qr === 'image/svg+xml', `${scheme}: the QR code is served (${qr})`);
  await page.click(`a[href="/links/tagged-${scheme}?granularity=week"]`);
  check((await page.locator('a[aria-current=true]').innerText()) === 'week', `${scheme}: granularity switch`);
  await audit(page, `link-${scheme}`);
  await page.fill('#dest', `https://example.org/edited-${scheme}`);
  await page.click('form[action^="/links/"] button[type=submit]');
  await page.waitForLoadState();
  check((await page.locator('.dest').innerText()) === `https://example.org/edited-${scheme}`, `${scheme}: destination edited`);

  // Keyboard: the sign-out button is reachable by Tab and works with Enter.
  let reached = false;
  for (let i = 0; i < 10 && !reached; i += 1) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.textContent?.trim() === 'Sign out');
  }
  check(reached, `${scheme}: Sign out is reachable by keyboard`);
  await page.keyboard.press('Enter');
  await page.waitForURL(`${CONSOLE_URL}/sign-in`);
  await page.goto(`${CONSOLE_URL}/`);
  check(page.url().endsWith('/sign-in'), `${scheme}: signed out, the dashboard is closed`);
  check(dialogs === 0, `${scheme}: no dialog ever fired`);
  await context.close();
}
// A member of another workspace cannot open the link's page.
{
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${CONSOLE_URL}/sign-in`);
  await page.fill('#email', OTHER_EMAIL);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${CONSOLE_URL}/`);
  const resp = await page.goto(`${CONSOLE_URL}/links/tagged-light`);
  check(resp.status() === 404, `another workspace's member gets 404 for the link's page (${resp.status()})`);
  const qr = await context.request.get(`${CONSOLE_URL}/links/tagged-light/qr.svg`);
  check(qr.status() === 404, `and for its QR code (${qr.status()})`);
  await context.close();
}
await browser.close();
if (failures.length) { console.error(`${failures.length} failed`); process.exit(1); }
console.log('all browser scenarios passed');

// The console's scenarios in Chromium (playwright-core, /usr/bin/chromium): every page is
// checked with axe-core (no serious or critical violation), screenshotted into $OUT, and
// watched for dialogs (an XSS payload that ran would open one).
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const { CONSOLE_URL, EMAIL, PASSWORD, OUT } = process.env;
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
await browser.close();
if (failures.length) { console.error(`${failures.length} failed`); process.exit(1); }
console.log('all browser scenarios passed');

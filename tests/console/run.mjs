// Browser tests of the hfx web console (docs/console.md).
//
// Started by tests/zone/console.rs, which starts a real zone through the zone launcher and
// writes a fixture (HFX_CONSOLE_FIXTURE): the zone's centres with their console addresses and
// person certificates, and the seeded members and movers of each centre. This runner drives
// Debian's chromium (never a downloaded browser) with playwright-core, presenting the person's
// client certificate, through every spec in specs/ (sorted by name; HFX_CONSOLE_ONLY=a,b runs
// only those), and writes a zh-CN screenshot of every page it looks at to the fixture's
// shots folder. Across all specs it checks that no page's HTML and no request URL holds a full
// id number. Exit code 0: every spec passed.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = JSON.parse(fs.readFileSync(process.env.HFX_CONSOLE_FIXTURE, "utf8"));
const shots = fixture.shots_dir;
fs.mkdirSync(shots, { recursive: true });
const only = (process.env.HFX_CONSOLE_ONLY || "").split(",").map((s) => s.trim()).filter(Boolean);
const executablePath = process.env.HFX_CHROMIUM || "/usr/bin/chromium";

// Every full id number of the zone's population: none may appear in a page or a URL.
const ids = new Set();
for (const list of Object.values(fixture.members)) for (const m of list) ids.add(m.id_number);
const FULL_ID = /\d{17}[\dXx]/;
const leaks = [];
function leakIn(text) {
  for (const m of text.matchAll(/\d{17}[\dXx]|\d{15}/g)) if (ids.has(m[0].toUpperCase())) return m[0];
  return null;
}

class AssertionError extends Error {}

class T {
  constructor(browser) {
    this.browser = browser;
    this.fixture = fixture;
    this.contexts = [];
    this.timings = {};
    this.shotNames = [];
  }
  /** Centre `i` of the fixture (0: the one whose console most specs use). */
  centre(i = 0) {
    const c = fixture.centres[i];
    if (!c) throw new AssertionError(`no centre ${i} in the fixture`);
    return c;
  }
  url(p, i = 0) {
    return `https://${this.centre(i).console}${p}`;
  }
  /** Seeded members of centre `i` (all fields of the data standard's member). */
  members(i = 0) {
    return fixture.members[this.centre(i).code];
  }
  /** Movers whose new account is at centre `i`: {k, dest, origin_centre, origin}. */
  movers(i = 0) {
    return fixture.movers[this.centre(i).code] || [];
  }
  async context(opts) {
    const ctx = await this.browser.newContext({
      ignoreHTTPSErrors: true,
      locale: opts.locale || "zh-CN",
      viewport: opts.viewport || { width: 1366, height: 768 },
      clientCertificates: opts.cert ? [{ origin: opts.origin, certPath: opts.cert.cert, keyPath: opts.cert.key }] : [],
      acceptDownloads: true,
    });
    this.contexts.push(ctx);
    return ctx;
  }
  watch(page) {
    page.on("request", (r) => {
      const u = r.url();
      const leak = leakIn(decodeURIComponent(u));
      if (leak || FULL_ID.test(u) && ids.has((u.match(FULL_ID) || [""])[0].toUpperCase())) {
        leaks.push(`request URL ${u} holds a full id number`);
      }
    });
    page.on("response", async (r) => {
      const type = r.headers()["content-type"] || "";
      if (!type.startsWith("text/html")) return;
      try {
        const body = await r.text();
        const leak = leakIn(body);
        if (leak) leaks.push(`${r.url()} (${r.status()}) HTML holds the full id number ${leak.slice(0, 6)}…`);
      } catch {
        // A redirect has no body to read.
      }
    });
    return page;
  }
  /** A page of a browser presenting `role`'s certificate (clerk, auditor, operator) of centre `i`. */
  async page(role, { centre = 0, locale, viewport } = {}) {
    const c = this.centre(centre);
    const cert = c.people[role];
    if (!cert) throw new AssertionError(`no ${role} certificate for centre ${c.code}`);
    const ctx = await this.context({ cert, origin: `https://${c.console}`, locale, viewport });
    return this.watch(await ctx.newPage());
  }
  /** A page of a browser with no client certificate at all. */
  async bare({ centre = 0 } = {}) {
    const ctx = await this.context({ origin: `https://${this.centre(centre).console}` });
    return this.watch(await ctx.newPage());
  }
  /** Screenshot of the whole page as `name`.png (and its HTML checked for full ids). */
  async shot(page, name) {
    const file = path.join(shots, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    this.shotNames.push(name);
    const leak = leakIn(await page.content());
    if (leak) leaks.push(`page ${name} shows the full id number ${leak.slice(0, 6)}…`);
  }
  /** Milliseconds from navigation start to first contentful paint of the page now shown. */
  async firstPaint(page, name) {
    const ms = await page.evaluate(() => {
      const e = performance.getEntriesByName("first-contentful-paint")[0] || performance.getEntriesByName("first-paint")[0];
      return e ? e.startTime : -1;
    });
    this.timings[name] = Math.round(ms * 10) / 10;
    return ms;
  }
  ok(cond, msg) {
    if (!cond) throw new AssertionError(msg);
  }
  eq(a, b, msg) {
    if (a !== b) throw new AssertionError(`${msg}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
  }
  has(text, sub, msg) {
    if (!String(text).includes(sub)) throw new AssertionError(`${msg}: ${JSON.stringify(sub)} not in ${JSON.stringify(String(text).slice(0, 400))}`);
  }
  lacks(text, sub, msg) {
    if (String(text).includes(sub)) throw new AssertionError(`${msg}: ${JSON.stringify(sub)} is there`);
  }
  /** POST a form body from inside `page` (same origin), returning {status, text}. */
  async post(page, p, fields) {
    return page.evaluate(
      async ({ p, fields }) => {
        const r = await fetch(p, { method: "POST", body: new URLSearchParams(fields), redirect: "manual" });
        return { status: r.status, text: await r.text() };
      },
      { p, fields },
    );
  }
  async closeAll() {
    for (const c of this.contexts.splice(0)) await c.close().catch(() => {});
  }
}

const files = fs
  .readdirSync(path.join(here, "specs"))
  .filter((f) => f.endsWith(".mjs"))
  .sort();
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const results = [];
const timings = {};
const started = Date.now();
for (const f of files) {
  const spec = (await import(path.join(here, "specs", f))).default;
  const name = spec.name || f;
  if (only.length && !only.some((o) => f.includes(o) || name.includes(o))) continue;
  const t = new T(browser);
  const t0 = Date.now();
  try {
    await spec.run(t);
    results.push({ name, ok: true, ms: Date.now() - t0 });
    console.log(`PASS ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false, ms: Date.now() - t0, error: String(e && e.stack || e) });
    console.log(`FAIL ${name}: ${e && e.stack || e}`);
    let i = 0;
    for (const ctx of t.contexts) for (const p of ctx.pages()) {
      await p.screenshot({ path: path.join(shots, `FAIL-${name}-${i++}.png`), fullPage: true }).catch(() => {});
    }
  }
  Object.assign(timings, t.timings);
  await t.closeAll();
}
await browser.close();
if (leaks.length) {
  results.push({ name: "no full id number in any page or URL", ok: false, error: leaks.join("\n") });
  console.log(`FAIL no full id number in any page or URL:\n  ${leaks.join("\n  ")}`);
} else {
  console.log("PASS no full id number in any page or URL");
}
fs.writeFileSync(path.join(shots, "results.json"), JSON.stringify({ results, timings, seconds: (Date.now() - started) / 1000 }, null, 2));
for (const [k, v] of Object.entries(timings)) console.log(`first paint ${k}: ${v} ms`);
console.log(`screenshots: ${shots}`);
const failed = results.filter((r) => !r.ok);
if (!results.length) {
  console.log("no spec ran");
  process.exit(1);
}
process.exit(failed.length ? 1 : 0);

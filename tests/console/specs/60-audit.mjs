// The auditor's pages: the exchange log (size, checkpoint, cosignatures by witness), the export
// download, witness evidence, disclosure records (filters, CSV), reconcile of two centres'
// exports (zero breaks), the charts; and a clerk refused on all of them.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** The hfx binary the zone runs (the test's target folder: <target>/tmp/console-screenshots). */
function hfxBinary(t) {
  const target = path.dirname(path.dirname(t.fixture.shots_dir));
  const exe = path.join(target, "debug", "hfx");
  return fs.existsSync(exe) ? exe : "hfx";
}

/** A real exchange: the clerk of centre `from` queries a member of centre `to` (hfx member query). */
function query(t, from, to, member) {
  // An answer of "not found" or a refusal is an exchange too (the CLI then exits non-zero).
  try {
    execFileSync(
    hfxBinary(t),
    [
      "member", "query", "--dir", t.fixture.zone_dir, "--node", t.centre(from).code,
      "--centre", t.centre(to).code, "--id-number", member.id_number, "--name", member.name,
      "--purpose", "loan_application", "--json",
    ],
    { stdio: "pipe", timeout: 60000 },
  );
  } catch (e) {
    if (e.code === "ENOENT" || e.signal) throw e;
  }
}

/** Click `selector` and save the download it starts; returns {file, name}. */
async function download(page, selector, dir) {
  const [dl] = await Promise.all([page.waitForEvent("download"), page.locator(selector).click()]);
  const name = dl.suggestedFilename();
  const file = path.join(dir, name);
  await dl.saveAs(file);
  return { file, name };
}

export default {
  name: "audit",
  async run(t) {
    const c0 = t.centre(0).code;
    const c1 = t.centre(1).code;
    const c2 = t.centre(2).code;
    // Traffic, so that the logs and the disclosure records are not empty: centre 0 asks
    // centres 1 and 2, centre 1 asks centre 0.
    query(t, 0, 1, t.members(1)[0]);
    query(t, 0, 1, t.members(1)[1]);
    query(t, 0, 2, t.members(2)[0]);
    query(t, 1, 0, t.members(0)[0]);

    const au = await t.page("auditor");
    const nav = await (async () => {
      await au.goto(t.url("/audit"));
      return au.locator("nav.main").innerText();
    })();
    t.has(nav, "披露记录", "an auditor's navigation");
    t.lacks(nav, "会员查询", "an auditor's navigation has no clerk pages");

    // The log: entries, a checkpoint, each peer as a witness; wait for a cosignature.
    let cosigned = 0;
    for (let i = 0; i < 40; i++) {
      await au.goto(t.url("/audit"));
      const sizes = await au.locator("#cosignatures tbody tr").evaluateAll((rows) => rows.map((r) => Number(r.dataset.size)));
      cosigned = Math.max(0, ...sizes);
      if (cosigned > 0 && Number(await au.locator("#checkpoint-size").innerText()) > 0) break;
      await au.waitForTimeout(1000);
    }
    t.eq(await au.locator("h1").innerText(), "交换日志", "the log page's title");
    const logSize = Number(await au.locator("#log-size").innerText());
    t.ok(logSize > 0, `the log has entries (${logSize})`);
    t.ok(Number(await au.locator("#checkpoint-size").innerText()) > 0, "a checkpoint is signed");
    t.eq(await au.locator("#cosignatures tbody tr").count(), t.fixture.centres.length - 1, "a row per witness");
    t.ok(cosigned > 0, "a witness has cosigned");
    t.has(await au.locator("#cosignatures").innerText(), "已见证至", "the cosignature table in Chinese");
    t.has(await au.locator("#checkpoint-note").innerText(), c0, "the checkpoint note names the log's origin");
    await t.shot(au, "audit-log");

    // Witness evidence: none in a healthy zone, said so.
    let r = await au.goto(t.url("/audit/evidence"));
    t.eq(r.status(), 200, "the evidence page");
    t.eq(await au.locator("h1").innerText(), "见证证据", "the evidence page's title");
    t.ok((await au.locator("#no-evidence").count()) + (await au.locator("#evidence").count()) === 1, "evidence: a table or 'none'");
    await t.shot(au, "audit-evidence");

    // Disclosures: rows, masked subjects, a filter by peer narrows them, CSV of the rows.
    await au.goto(t.url("/audit/disclosures"));
    const all = await au.locator("#disclosures tbody tr").count();
    t.ok(all >= 4, `disclosure rows (${all})`);
    const subjects = await au.locator("#disclosures td.subject").allInnerTexts();
    t.ok(subjects.some((s) => s.includes("*")), `masked subjects (${subjects.slice(0, 3)})`);
    await t.shot(au, "audit-disclosures");
    await au.locator("#peer").selectOption(c1);
    await au.locator("#search").click();
    await au.waitForLoadState();
    const peers = await au.locator("#disclosures tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.peer));
    t.ok(peers.length > 0 && peers.length < all, `the peer filter narrows the rows (${peers.length} of ${all})`);
    t.ok(peers.every((p) => p === c1), "every row is with the chosen peer");
    t.eq(await au.locator("#peer").inputValue(), c1, "the filter is kept");
    await t.shot(au, "audit-disclosures-peer");
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hfx-audit-spec-"));
    const csv = await download(au, "#csv", tmp);
    t.ok(csv.name.endsWith(".csv"), `a CSV file (${csv.name})`);
    const lines = fs.readFileSync(csv.file, "utf8").replace(/^\uFEFF/, "").trim().split(/\r?\n/);
    t.eq(lines[0], "at,at_unix_ms,direction,peer,acting_person,purpose,legal_basis,outcome,message_id,subject", "the CSV header");
    t.eq(lines.length - 1, peers.length, "a CSV line per filtered row");
    t.ok(lines.slice(1).every((l) => l.includes(`,${c1},`)), "the CSV holds the filtered rows");
    // A member filter by id number (POST only): that member's records, masked.
    const m = t.members(1)[0];
    const byMember = await t.post(au, "/audit/disclosures", {
      _csrf: await au.locator("input[name=_csrf]").first().inputValue(),
      id_number: m.id_number,
    });
    t.eq(byMember.status, 200, "a member filter");
    const memberRows = (byMember.text.match(/<tr data-peer=/g) || []).length;
    t.ok(memberRows >= 1 && memberRows < all, `the member filter narrows the rows (${memberRows})`);
    t.lacks(byMember.text, m.id_number, "the member's id number is not echoed");
    const badId = await t.post(au, "/audit/disclosures", {
      _csrf: await au.locator("input[name=_csrf]").first().inputValue(),
      id_number: "123",
    });
    t.eq(badId.status, 400, "a wrong id number is refused");

    // Exports of centre 0 and centre 1, each from its own console.
    await au.goto(t.url("/audit"));
    const e0 = await download(au, "#export-download", tmp);
    t.has(e0.name, c0, "the export's file name has the centre code");
    t.ok(fs.statSync(e0.file).size > 0, "centre 0's export has content");
    t.ok(fs.readFileSync(e0.file, "utf8").trim().endsWith("end"), "centre 0's export is complete");
    const au1 = await t.page("auditor", { centre: 1 });
    await au1.goto(t.url("/audit", 1));
    const e1 = await download(au1, "#export-download", tmp);
    t.has(e1.name, c1, "centre 1's export's file name");

    // Reconcile both: verified, zero breaks.
    await au.goto(t.url("/audit/reconcile"));
    t.eq(await au.locator("#reconcile-form").getAttribute("enctype"), "multipart/form-data", "a multipart form");
    await t.shot(au, "audit-reconcile-form");
    await au.locator("#exports").setInputFiles([e0.file, e1.file]);
    await au.locator("#reconcile").click();
    await au.waitForLoadState();
    t.eq(await au.locator("h1").innerText(), "对账结果", "the reconcile result");
    t.eq(await au.locator("#files tr.file").count(), 2, "a verify row per file");
    t.eq(await au.locator('#files tr.file[data-ok="true"]').count(), 2, "both files verify");
    t.eq(await au.locator("#zero-breaks").count(), 1, "zero breaks, said so");
    t.has(await au.locator("#zero-breaks").innerText(), "0 处不符", "zero breaks in words");
    t.ok(Number(await au.locator("#matched").innerText()) >= 2, "the exchanges between 0 and 1 are matched");
    await t.shot(au, "audit-reconcile-result");
    // One file is not enough.
    await au.locator("#exports").setInputFiles([e0.file]);
    await au.locator("#reconcile").click();
    await au.waitForLoadState();
    t.has(await au.locator("#reconcile-error").innerText(), "两个或更多", "one export is refused");

    // Charts: exchanges per peer (both peers of the traffic), cases, money.
    r = await au.goto(t.url("/audit/charts"));
    t.eq(r.status(), 200, "the charts page");
    t.eq(await au.locator("#chart-exchanges").count(), 1, "the exchanges chart");
    const bars = await au.locator("#chart-exchanges rect.bar").evaluateAll((rs) => rs.map((x) => [x.dataset.peer, Number(x.dataset.count)]));
    const perPeer = {};
    for (const [p, n] of bars) perPeer[p] = (perPeer[p] || 0) + n;
    t.ok(perPeer[c1] >= 3 && perPeer[c2] >= 1, `exchanges per peer drawn (${JSON.stringify(perPeer)})`);
    t.has(await au.locator("#chart-exchanges").innerHTML(), "交换次数", "the axis is labelled in Chinese");
    t.eq(await au.locator("#chart-money").count(), 1, "the money chart");
    t.ok((await au.locator("#chart-cases").count()) + (await au.locator("#no-cases").count()) === 1, "cases by state: chart or none");
    await t.shot(au, "audit-charts");
    // Centre 1's charts (where the transfers spec, when it ran, made cases): every case
    // state counted is drawn as a bar.
    await au1.goto(t.url("/audit/charts", 1));
    const states = await au1.locator("#chart-cases rect.bar").evaluateAll((rs) => rs.map((x) => Number(x.dataset.count)));
    t.ok(states.every((n) => n > 0), `case bars have counts (${states})`);
    t.eq(await au1.locator("#chart-money").count(), 1, "centre 1's money chart");
    if ((await au1.locator('#chart-cases rect.bar[data-state="done"]').count()) > 0) {
      // A transfer done today was in flight for a while: today's peak shows it.
      t.ok((await au1.locator("#chart-money rect.peak").count()) > 0, "the day's peak of money in flight is drawn");
    }
    await t.shot(au1, "audit-charts-centre1");
    // The axes in the person's language: English after the switch.
    await au.getByRole("button", { name: "English" }).click();
    await au.waitForURL(t.url("/audit/charts"));
    t.has(await au.locator("#chart-exchanges").innerHTML(), "Exchanges", "the axis is labelled in English");
    t.has(await au.locator("#chart-money").innerHTML(), "Amount (yuan)", "the money axis in English");
    await au.goto(t.url("/audit"));
    t.eq(await au.locator("h1").innerText(), "Exchange log", "the log page in English");

    // A clerk is refused every auditor page.
    const clerk = await t.page("clerk");
    for (const p of ["/audit", "/audit/reconcile", "/audit/disclosures", "/audit/evidence", "/audit/charts", "/audit/export"]) {
      const res = await clerk.goto(t.url(p)).catch(() => null);
      t.eq(res && res.status(), 403, `a clerk on ${p}`);
    }
    t.has(await clerk.content(), "ROLE_NOT_ALLOWED", "the refusal's reason");
    fs.rmSync(tmp, { recursive: true, force: true });
  },
};

// The clerk's transfer pages (issue 13): start a transfer for a mover and follow its timeline
// to done; cancel a second one before its origin accepts (the origin held in maintenance mode
// so the letter waits); a frozen origin account is refused and the refusal shown; a refused
// move (cancel of a done case) shows the node's reason; the list shows every case with its
// national status code.
const CASE_URL = /\/transfers\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function state(page) {
  return {
    state: await page.locator("#case").getAttribute("data-state"),
    national: await page.locator("#case").getAttribute("data-national"),
    final: (await page.locator("#case").getAttribute("data-final")) === "true",
    pending: (await page.locator("#cancel-pending").count()) > 0,
  };
}

// Reload the case page until `until(state)` holds or `secs` pass; a negotiation is settled
// from the page (the clerk's accept) on the way.
async function follow(t, page, until, secs = 60) {
  const end = Date.now() + secs * 1000;
  for (;;) {
    const s = await state(page);
    if (until(s)) return s;
    if (s.state === "negotiating" && (await page.locator("#resolve-accept").count())) {
      await t.shot(page, "transfer-case-negotiating");
      await Promise.all([page.waitForURL(CASE_URL), page.locator("#resolve-accept").click()]);
      continue;
    }
    if (Date.now() > end) return s;
    await page.waitForTimeout(1000);
    await page.reload();
  }
}

async function startFor(t, page, m, account = m.dest.account_no) {
  await page.goto(t.url("/transfers/new", page._centre));
  await page.selectOption("#origin", m.origin_centre);
  await page.selectOption("#id_type", "01");
  await page.fill("#id_number", m.dest.id_number);
  await page.fill("#name", m.dest.name);
  await page.fill("#account_no", account);
  await page.locator("#start").click();
  await page.waitForLoadState("load");
}

// Load the case page afresh and measure its first paint.
async function paint(t, page, name) {
  await page.goto(page.url());
  await page.waitForFunction(() => performance.getEntriesByName("first-contentful-paint").length > 0, null, { timeout: 5000 }).catch(() => {});
  const ms = await t.firstPaint(page, name);
  t.ok(ms > 0, `first paint of ${name} measured (${ms})`);
}

async function timelineOf(page) {
  return page.locator("#timeline li").evaluateAll((lis) =>
    lis.map((li) => ({
      cls: li.className,
      when: (li.querySelector(".when") || {}).textContent || "",
      centre: (li.querySelector(".centre") || {}).textContent || "",
      actor: (li.querySelector(".actor") || {}).textContent || "",
      step: (li.querySelector(".step") || {}).textContent || "",
      note: (li.querySelector(".note") || {}).textContent || "",
    })),
  );
}

async function setMaintenance(t, op, on) {
  await op.goto(t.url("/ops", op._centre));
  const now = (await op.locator("#maintenance-state").innerText()).trim();
  if ((now === "是") !== on) {
    await op.locator("#maintenance-switch").click();
    await op.waitForURL(t.url("/ops", op._centre));
  }
  t.eq((await op.locator("#maintenance-state").innerText()).trim(), on ? "是" : "否", "origin's maintenance mode");
}

export default {
  name: "transfers",
  async run(t) {
    // Movers of the fixture come into centre i from the city before it in the seed's list,
    // which is a centre of the three-centre zone for centres 1 and 2 only (centre 0 徐州's
    // movers come from outside the zone): the clerk is one of the first centre with movers
    // from inside the zone, preferring 0, then 2 (so centre 0's members are not moved).
    const enough = (l) => l.filter((m) => m.k % 4 < 2).length >= 2 && l.some((m) => m.k % 4 === 3);
    const ci = [0, 2, 1].find((i) => i < t.fixture.centres.length && enough(t.movers(i)));
    t.ok(ci !== undefined, "a centre with movers from inside the zone");
    const U = (p) => t.url(p, ci);
    const movers = t.movers(ci);
    const normal = movers.filter((m) => m.k % 4 === 0 || m.k % 4 === 1);
    const frozen = movers.find((m) => m.k % 4 === 3);
    t.ok(normal.length >= 2, `two movers with a normal origin account (have ${movers.length} movers)`);
    t.ok(frozen, "a mover whose origin account is frozen");
    const [a, b] = normal;

    const clerk = await t.page("clerk", { centre: ci });
    clerk._centre = ci;
    await clerk.goto(U("/transfers"));
    t.eq(await clerk.locator("h1").innerText(), "转移接续", "the list's title");
    t.eq(await clerk.locator('nav.main a[aria-current="page"]').innerText(), "转移接续", "the nav marks the page");
    await t.shot(clerk, "transfers-list-before");

    // The form, from the list's button.
    await Promise.all([clerk.waitForURL(/\/transfers\/new\??$/), clerk.locator("#new-transfer").click()]);
    t.eq(await clerk.locator("h1").innerText(), "发起转移", "the form's title");
    t.eq(await clerk.locator("#origin option").count(), t.fixture.centres.length - 1, "every peer centre to choose from");
    await t.shot(clerk, "transfer-new");

    // The server checks the id number (check digit) and names the field; nothing is echoed.
    const csrf = await clerk.locator('#start-form input[name="_csrf"]').getAttribute("value");
    const id = a.dest.id_number;
    const last = id.slice(-1) === "0" ? "1" : "0";
    const bad = await t.post(clerk, "/transfers/new", {
      _csrf: csrf, origin: a.origin_centre, id_type: "01", id_number: id.slice(0, -1) + last,
      name: a.dest.name, account_no: a.dest.account_no,
    });
    t.eq(bad.status, 400, "a wrong check digit is refused");
    t.has(bad.text, "证件号码", "the error names the field");
    t.has(bad.text, "身份证号码不正确", "the error says what is wrong");
    t.lacks(bad.text, id.slice(0, -1) + last, "the typed id is not echoed");

    // The node refuses an account that is not the member's: the refusal beside the form.
    await startFor(t, clerk, a, "999999999999");
    t.eq(clerk.url(), U("/transfers/new"), "a refused start stays on the form");
    const box = clerk.locator("div.error[role=alert]");
    t.eq(await box.count(), 1, "the refusal is shown");
    t.has(await box.innerText(), "destination_account_no", "the refusal names the field");
    t.eq(await clerk.locator("#id_number").inputValue(), "", "the id number is not echoed");
    t.eq(await clerk.locator("#origin").inputValue(), a.origin_centre, "the origin is kept");
    await t.shot(clerk, "transfer-new-refused");

    // A normal move, followed to done.
    await startFor(t, clerk, a);
    t.ok(CASE_URL.test(clerk.url()), `the start leads to the case page (at ${clerk.url()})`);
    await paint(t, clerk, "case timeline");
    const caseA = (await clerk.locator("#case-id").innerText()).trim();
    t.ok(clerk.url().endsWith(caseA), "the URL names the case id only");
    const person = await clerk.locator("#person").innerText();
    t.has(person, "*", "the person is masked");
    t.lacks(person, a.dest.id_number, "no full id number");
    t.eq(await clerk.locator("h1").innerText(), "转移业务", "the case's title");
    t.ok((await clerk.locator("#timeline li").count()) >= 1, "the timeline has the letter");
    await t.shot(clerk, "transfer-case-started");
    const done = await follow(t, clerk, (s) => s.final);
    t.ok(["done", "negotiated_done"].includes(done.state), `case ${caseA} ends done (is ${done.state})`);
    const nat = await clerk.locator("#national").innerText();
    t.ok(nat.includes("(00)") || nat.includes("(20)"), `national status done: ${nat}`);
    t.ok(nat.includes("转移完成") || nat.includes("协商后办结"), `national status in words: ${nat}`);
    t.has(await clerk.locator("#state").innerText(), "办结", "the state in words");
    t.has(await clerk.locator("#amount").innerText(), "¥", "the money moved");
    const steps = await timelineOf(clerk);
    t.ok(steps.length >= 4, `several steps (${steps.length})`);
    for (const s of steps) {
      t.ok(/\d{4}/.test(s.when), `each step has its time (${JSON.stringify(s)})`);
      t.ok(s.centre.trim().length > 0 && s.actor.trim().length > 0, `each step has its centre (${JSON.stringify(s)})`);
    }
    t.ok(new Set(steps.map((s) => s.centre)).size >= 2, `steps of both centres: ${JSON.stringify(steps.map((s) => s.centre))}`);
    t.ok(steps[0].actor.includes("经办人员"), `the clerk issued the letter: ${steps[0].actor}`);
    t.ok(steps[0].actor.includes("clerk1"), `the clerk who issued it is named: ${steps[0].actor}`);
    t.ok(steps.some((s) => s.actor.includes("结算银行") || s.actor.includes("转出地")), "the origin's steps are named");
    t.ok(steps.some((s) => s.note.includes("已为职工入账")), "the credit step in Chinese");
    t.ok(!steps.some((s) => /[a-z]{3}/.test(s.note)), `no English notes left: ${JSON.stringify(steps.map((s) => s.note))}`);
    t.ok(steps[steps.length - 1].cls.includes("ok"), "the last step is marked done");
    t.eq(await clerk.locator("#cancel-form").count(), 0, "no cancel once done");
    t.eq(await clerk.locator("#no-actions").count(), 1, "nothing more to do");
    await t.shot(clerk, "transfer-case-done");

    // A move the rules do not allow (cancel a done case): the node's reason on the case page.
    const caseCsrf = await clerk.locator('form.lang input[name="_csrf"]').getAttribute("value");
    await Promise.all([
      clerk.waitForLoadState("load"),
      clerk.evaluate(({ csrf }) => {
        const f = document.createElement("form");
        f.method = "post";
        f.action = location.pathname + "/cancel";
        for (const [k, v] of [["_csrf", csrf], ["reason", "测试"]]) {
          const i = document.createElement("input");
          i.type = "hidden";
          i.name = k;
          i.value = v;
          f.append(i);
        }
        document.body.append(f);
        f.submit();
      }, { csrf: caseCsrf }),
    ]);
    await clerk.waitForURL(/\/cancel$/);
    const refused = clerk.locator("div.error[role=alert]");
    t.eq(await refused.getAttribute("data-reason"), "MOVE_NOT_ALLOWED", "the refusal's reason");
    t.ok((await refused.innerText()).length > 20, "the refusal explains itself");
    t.eq(await clerk.locator("#case-id").innerText(), caseA, "the case is still shown");
    await t.shot(clerk, "transfer-action-refused");

    // A cancel before the origin accepts: the origin is in maintenance, so the letter waits.
    const iB = t.fixture.centres.findIndex((c) => c.code === b.origin_centre);
    t.ok(iB >= 0 && iB !== ci, "the second mover's origin is a centre of the zone");
    const op = await t.page("operator", { centre: iB });
    op._centre = iB;
    let caseB;
    await setMaintenance(t, op, true);
    try {
      await startFor(t, clerk, b);
      t.ok(CASE_URL.test(clerk.url()), "the second case page");
      await paint(t, clerk, "case timeline (second)");
      caseB = (await clerk.locator("#case-id").innerText()).trim();
      t.eq((await state(clerk)).state, "letter_sent", "the letter waits for the origin");
      t.eq(await clerk.locator("#cancel-form").count(), 1, "cancel is offered before acceptance");
      await t.shot(clerk, "transfer-case-letter-sent");
      await clerk.fill("#reason", "职工申请撤销");
      await Promise.all([clerk.waitForURL(U(`/transfers/${caseB}`)), clerk.locator("#cancel").click()]);
      t.eq(await clerk.locator("#cancel-pending").count(), 1, "the cancel is pending");
      const notes = (await timelineOf(clerk)).map((s) => s.note).join("\n");
      t.has(notes, "已申请撤销：职工申请撤销", "the cancel request on the timeline");
      const asked = (await timelineOf(clerk)).find((s) => s.note.includes("已申请撤销"));
      t.ok(asked && asked.actor.includes("clerk1"), `the clerk who asked to cancel is named: ${JSON.stringify(asked)}`);
      t.eq(await clerk.locator("#cancel-form").count(), 0, "no second cancel");
      await t.shot(clerk, "transfer-case-cancel-requested");
    } finally {
      await setMaintenance(t, op, false);
    }
    // The relay is woken from the page; the origin answers the letter, then the cancel.
    await Promise.all([clerk.waitForURL(U(`/transfers/${caseB}`)), clerk.locator("#resolve-retry").click()]);
    const afterCancel = await follow(t, clerk, (s) => s.final || (!s.pending && !["letter_sent", "letter_received"].includes(s.state)), 90);
    const notesB = (await timelineOf(clerk)).map((s) => s.note).join("\n");
    if (afterCancel.state === "cancelled") {
      t.has(await clerk.locator("#national").innerText(), "(05)", "national status cancelled");
      t.has(await clerk.locator("#national").innerText(), "已撤销", "cancelled in words");
      t.has(notesB, "转出地已确认撤销", "the origin confirmed the cancel");
      t.ok((await clerk.locator("#timeline li.bad").count()) >= 1, "the cancel marked on the timeline");
      await t.shot(clerk, "transfer-case-cancelled");
    } else {
      // The origin accepted the letter before the cancel reached it: the refusal is shown and
      // the case goes on.
      t.ok(notesB.includes("撤销未成功") || notesB.includes("转出地在撤销前已接受"), `the cancel's refusal on the timeline (state ${afterCancel.state}): ${notesB}`);
      t.ok((await clerk.locator("#timeline li.bad").count()) >= 1, "the refused cancel marked");
      t.eq(await clerk.locator("#cancel-form").count(), 0, "no cancel after acceptance");
      await t.shot(clerk, "transfer-case-cancel-refused");
      await follow(t, clerk, (s) => s.final);
    }

    // A frozen origin account: the origin refuses the letter (13).
    await startFor(t, clerk, frozen);
    t.ok(CASE_URL.test(clerk.url()), "the frozen mover's case page");
    const caseC = (await clerk.locator("#case-id").innerText()).trim();
    const ref = await follow(t, clerk, (s) => s.final);
    t.eq(ref.state, "refused", "a frozen origin account is refused");
    t.has(await clerk.locator("#national").innerText(), "(13)", "national status refused");
    t.has(await clerk.locator("#national").innerText(), "转出地拒绝", "refused in words");
    t.eq(await clerk.locator("#refusal-code").count(), 1, "the refusal code is shown");
    t.ok((await clerk.locator("#timeline li.bad").count()) >= 1, "the refusal marked on the timeline");
    t.has(await clerk.locator("#state").innerText(), "已拒绝", "refused state");
    await t.shot(clerk, "transfer-case-refused");

    // The list: every case with its national status code, each linking to its page.
    await clerk.goto(U("/transfers"));
    for (const [c, codes] of [[caseA, ["(00)", "(20)"]], [caseB, ["(05)", "(00)", "(20)"]], [caseC, ["(13)"]]]) {
      const row = clerk.locator(`#cases tr[data-case="${c}"]`);
      t.eq(await row.count(), 1, `case ${c} is listed`);
      const n = await row.locator("td.national").innerText();
      t.ok(codes.some((x) => n.includes(x)), `case ${c}'s national status ${n}`);
      t.has(await row.innerText(), "*", "the person masked in the list");
      t.eq(await row.locator(`a[href="/transfers/${c}"]`).count(), 1, "the row links to the case");
    }
    await t.shot(clerk, "transfers-list");
    await Promise.all([clerk.waitForURL(U(`/transfers/${caseC}`)), clerk.locator(`a[href="/transfers/${caseC}"]`).click()]);
    await paint(t, clerk, "case timeline (from the list)");
    t.eq(await clerk.locator("#case-id").innerText(), caseC, "the link opens the case");

    // The same case in English: the catalogue's words, not the node's wire words.
    const en = await t.page("clerk", { centre: ci });
    await en.goto(U(`/transfers/${caseA}`));
    await Promise.all([en.waitForURL(U(`/transfers/${caseA}`)), en.getByRole("button", { name: "English" }).click()]);
    t.eq(await en.locator("html").getAttribute("lang"), "en", "English after the switch");
    const enNotes = (await timelineOf(en)).map((s) => s.note).join("\n");
    t.ok(!/[\u4e00-\u9fff]/.test(enNotes), `English notes: ${enNotes}`);
    t.ok(/\(0[0]\)|\(20\)/.test(await en.locator("#national").innerText()), "the national code in English too");
    await t.shot(en, "transfer-case-done-en");

    // A case id that is not one: not found; a clerk's page only.
    const nf = await clerk.goto(U("/transfers/not-a-case"));
    t.eq(nf.status(), 404, "an unknown case id");
    const aud = await t.page("auditor", { centre: ci });
    const r = await aud.goto(U("/transfers"));
    t.eq(r.status(), 403, "an auditor on the clerk's transfers");
  },
};

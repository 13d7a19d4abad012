// The clerk's zone-wide loan check (/loan-check): a member of centre 1 with loans, checked
// from centre 0, gets a row per centre of the zone (this one included), every one answered,
// the loans at centre 1 listed with money in yuan; a bad id is refused naming the field.
import { liveMember, badCheckDigit, maskId, maskName } from "./10-member.mjs";

async function check(page, id, name) {
  await page.selectOption("#id_type", "01");
  await page.fill("#id_number", id);
  await page.fill("#name", name);
  await Promise.all([page.waitForNavigation(), page.click("#check button[type=submit]")]);
}

export default {
  name: "loan-check",
  async run(t) {
    const m = liveMember(t, 1, (m) => m.loans > 0);
    const clerk = await t.page("clerk");
    const first = await clerk.goto(t.url("/loan-check"));
    t.eq(first.status(), 200, "the loan check page");
    t.eq(await clerk.locator("h1").innerText(), "贷款核查", "its title");
    await t.shot(clerk, "loan-form");

    await check(clerk, m.id_number, m.name);
    const rows = clerk.locator("#centres > tbody > tr.centre");
    t.eq(await rows.count(), t.fixture.centres.length, "a row per centre of the zone");
    for (const c of t.fixture.centres) {
      const row = clerk.locator(`#centres > tbody > tr[data-centre="${c.code}"]`);
      t.eq(await row.count(), 1, `a row for ${c.code}`);
      t.eq(await row.getAttribute("data-outcome"), "answered", `${c.code} answered`);
    }
    const own = clerk.locator(`#centres > tbody > tr[data-centre="${t.centre(0).code}"]`);
    t.has(await own.innerText(), "本中心", "the own centre is marked");
    const at = clerk.locator(`#centres > tbody > tr[data-centre="${t.centre(1).code}"]`);
    const loans = clerk.locator(`#centres tr[data-loans-of="${t.centre(1).code}"] tr.loan`);
    t.eq(await loans.count(), m.loans, "each loan at the member's centre");
    const text = (await at.innerText()) + (await clerk.locator(`#centres tr[data-loans-of="${t.centre(1).code}"]`).innerText());
    t.has(text, `已答复：${m.loans} 笔贷款`, "the count in words");
    t.has(text, "¥", "amounts in yuan");
    t.ok(/借款人/.test(text), "the role in words");
    t.ok(/\d{4}年\d{1,2}月\d{1,2}日/.test(text), "the issue date as a date");
    const head = await clerk.locator("#result h2").innerText();
    t.has(head, `${maskName(m.name)} ${maskId(m.id_number)}`, "the person masked");
    t.has(head, `${t.fixture.centres.length} 个中心中 ${t.fixture.centres.length} 个`, "every centre answered");
    t.eq(await clerk.locator("#complete").count(), 1, "the check is complete");
    t.lacks(await clerk.content(), m.name, "the full name is not in the page");
    await t.shot(clerk, "loan-result");

    // A bad check digit: the browser names the field; the server too.
    await clerk.goto(t.url("/loan-check"));
    await clerk.fill("#id_number", badCheckDigit(m.id_number));
    await clerk.fill("#name", m.name);
    await clerk.click("#check button[type=submit]");
    t.has(await clerk.locator("#id_number").evaluate((e) => e.validationMessage), "证件号码", "the browser names the field");
    const csrf = await clerk.locator("input[name=_csrf]").first().inputValue();
    const r = await t.post(clerk, "/loan-check", { _csrf: csrf, id_type: "01", id_number: badCheckDigit(m.id_number), name: m.name });
    t.eq(r.status, 400, "the server refuses a bad check digit");
    t.has(r.text, "证件号码", "naming the field");
    await t.shot(clerk, "loan-bad-id");
  },
};

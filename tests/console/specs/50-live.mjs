// The clerk's live-account check before opening an account (/live-check): a member live at
// centre 1, checked from centre 0, is reported live there; a person no centre has is reported
// with no live account elsewhere.
import { liveMember, maskId, maskName, UNKNOWN_ID } from "./10-member.mjs";

async function check(page, id, name) {
  await page.selectOption("#id_type", "01");
  await page.fill("#id_number", id);
  await page.fill("#name", name);
  await Promise.all([page.waitForNavigation(), page.click("#check button[type=submit]")]);
}

export default {
  name: "live-check",
  async run(t) {
    const m = liveMember(t, 1);
    const c1 = t.centre(1).code;
    const clerk = await t.page("clerk");
    const first = await clerk.goto(t.url("/live-check"));
    t.eq(first.status(), 200, "the live-account check page");
    t.eq(await clerk.locator("h1").innerText(), "开户查重", "its title");
    await t.shot(clerk, "live-form");

    await check(clerk, m.id_number, m.name);
    const verdict = clerk.locator("#verdict");
    t.eq(await verdict.getAttribute("data-live"), "true", "live elsewhere");
    const v = await verdict.innerText();
    t.has(v, "此人在其他中心有在用账户", "said plainly");
    t.has(v, c1, "naming the centre");
    const rows = clerk.locator("#centres tbody tr");
    t.eq(await rows.count(), t.fixture.centres.length - 1, "a row per other centre");
    const at = clerk.locator(`#centres tbody tr[data-centre="${c1}"]`);
    t.eq(await at.getAttribute("data-outcome"), "live", "live at centre 1");
    t.has(await at.innerText(), "有在用账户", "in words");
    t.has(await at.innerText(), "正常 (01)", "its status");
    const other = clerk.locator(`#centres tbody tr[data-centre="${t.centre(2).code}"]`);
    t.eq(await other.getAttribute("data-outcome"), "none", "no account at centre 2");
    t.has(await clerk.locator("#result h2").innerText(), `${maskName(m.name)} ${maskId(m.id_number)}`, "the person masked");
    t.lacks(await clerk.content(), m.name, "the full name is not in the page");
    await t.shot(clerk, "live-elsewhere");

    await check(clerk, UNKNOWN_ID, "王五");
    t.eq(await verdict.getAttribute("data-live"), "false", "not live anywhere");
    t.eq(await verdict.getAttribute("data-incomplete"), "false", "every centre answered");
    t.has(await verdict.innerText(), "其他中心没有在用账户", "said plainly");
    await t.shot(clerk, "live-none");
  },
};

// The console's shell: who you are, navigation by role, the language switch (remembered),
// the operator's page and its maintenance switch, refusals (no certificate, wrong role, a form
// without its token).
export default {
  name: "shell",
  async run(t) {
    // A browser without a client certificate never gets a page.
    const bare = await t.bare();
    let refused = false;
    try {
      await bare.goto(t.url("/"), { timeout: 10000 });
    } catch (e) {
      refused = true;
    }
    t.ok(refused, "a browser without a client certificate was served a page");

    const clerk = await t.page("clerk");
    await clerk.goto(t.url("/"));
    t.eq(await clerk.locator("html").getAttribute("lang"), "zh-CN", "Chinese by default");
    t.eq(await clerk.locator("h1").innerText(), "工作台", "the start page's title");
    const nav = await clerk.locator("nav.main").innerText();
    t.has(nav, "会员查询", "a clerk's navigation");
    t.lacks(nav, "披露记录", "a clerk's navigation has no auditor pages");
    await t.shot(clerk, "home-clerk");

    // A form without its token is refused, and so is one with another's token.
    const noToken = await t.post(clerk, "/lang", { lang: "en", back: "/" });
    t.eq(noToken.status, 403, "POST without the form token");
    t.has(noToken.text, "CSRF_REFUSED", "the refusal names its reason");
    const wrong = await t.post(clerk, "/lang", { lang: "en", back: "/", _csrf: "00".repeat(32) });
    t.eq(wrong.status, 403, "POST with a wrong form token");

    // The switch to English is remembered across pages and reloads.
    await clerk.getByRole("button", { name: "English" }).click();
    await clerk.waitForURL(t.url("/"));
    t.eq(await clerk.locator("h1").innerText(), "Start", "English after the switch");
    await clerk.goto(t.url("/member"));
    await clerk.goto(t.url("/"));
    t.eq(await clerk.locator("html").getAttribute("lang"), "en", "the switch is remembered");
    await clerk.getByRole("button", { name: "中文" }).click();
    await clerk.waitForURL(t.url("/"));
    t.eq(await clerk.locator("h1").innerText(), "工作台", "back to Chinese");

    // Pages of another role: 403.
    const r = await clerk.goto(t.url("/ops"));
    t.eq(r.status(), 403, "a clerk on the operator's page");
    t.has(await clerk.content(), "ROLE_NOT_ALLOWED", "the refusal's reason");
    await t.shot(clerk, "forbidden");
    const none = await clerk.goto(t.url("/no-such-page"));
    t.eq(none.status(), 404, "an unknown page");

    // The operator's page: status, every peer's health, expiry, the maintenance switch.
    const op = await t.page("operator");
    await op.goto(t.url("/ops"));
    const rows = await op.locator("#peers tbody tr").count();
    t.eq(rows, t.fixture.centres.length - 1, "a row per peer");
    t.has(await op.locator("#peers").innerText(), "SERVING", "peers' health");
    t.eq((await op.locator("#maintenance-state").innerText()).trim(), "否", "maintenance off");
    await t.shot(op, "ops");
    await op.locator("#maintenance-switch").click();
    await op.waitForURL(t.url("/ops"));
    t.eq((await op.locator("#maintenance-state").innerText()).trim(), "是", "maintenance on");
    await op.locator("#maintenance-switch").click();
    await op.waitForURL(t.url("/ops"));
    t.eq((await op.locator("#maintenance-state").innerText()).trim(), "否", "maintenance off again");

    // Keyboard: the first Tab reaches the skip link; a phone-width screen still shows it all.
    await op.keyboard.press("Tab");
    t.eq(await op.evaluate(() => document.activeElement && document.activeElement.className), "skip", "skip link first");
    const phone = await t.page("clerk", { viewport: { width: 390, height: 844 } });
    await phone.goto(t.url("/"));
    await t.shot(phone, "home-phone");
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    t.ok(!overflow, "the start page fits a phone's width");
  },
};

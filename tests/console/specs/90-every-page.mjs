// Every page of every role, as people use them: it answers, it fits a service window
// (1366x768) and a phone (390x844) without sideways scrolling, its first form field is
// reached by keyboard alone, it has no inline script (the CSP would block it anyway), and it
// reads in English too, with no untranslated message id showing.
const PAGES = {
  clerk: ["/", "/member", "/transfers", "/transfers/new", "/certificates", "/certificates/verify", "/loan-check", "/live-check"],
  auditor: ["/", "/audit", "/audit/evidence", "/audit/disclosures", "/audit/reconcile", "/audit/charts"],
  operator: ["/", "/ops"],
};

function slug(p) {
  return p === "/" ? "home" : p.slice(1).replace(/\//g, "-");
}

export default {
  name: "every-page",
  async run(t) {
    for (const [role, pages] of Object.entries(PAGES)) {
      const wide = await t.page(role);
      const phone = await t.page(role, { viewport: { width: 390, height: 844 } });
      for (const p of pages) {
        const r = await wide.goto(t.url(p));
        t.eq(r.status(), 200, `${role} ${p}`);
        const inline = await wide.evaluate(() => [...document.scripts].filter((s) => !s.src).length);
        t.eq(inline, 0, `${role} ${p}: inline scripts`);
        const styled = await wide.evaluate(() => document.querySelectorAll("[style]").length);
        t.eq(styled, 0, `${role} ${p}: inline style attributes (blocked by the CSP)`);
        // Keyboard: Tab from the top reaches a field of the page's main part (or, on pages
        // without a form, a link in it), passing the skip link and the navigation.
        const hasField = await wide.evaluate(() => !!document.querySelector("main input:not([type=hidden]), main select, main textarea, main button, main a"));
        if (hasField) {
          let reached = false;
          for (let i = 0; i < 40 && !reached; i++) {
            await wide.keyboard.press("Tab");
            reached = await wide.evaluate(() => {
              const a = document.activeElement;
              return !!a && !!a.closest("main") && a.tagName !== "BODY";
            });
          }
          t.ok(reached, `${role} ${p}: no field of the page is reached by Tab`);
        }
        await phone.goto(t.url(p));
        const over = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        t.ok(over <= 1, `${role} ${p}: ${over}px wider than a phone's screen`);
        await t.shot(phone, `phone-${role}-${slug(p)}`);
      }
      // English: every page, and no message id of the catalogue shows as text.
      await wide.goto(t.url("/"));
      await wide.getByRole("button", { name: "English" }).click();
      await wide.waitForURL(t.url("/"));
      for (const p of pages) {
        await wide.goto(t.url(p));
        t.eq(await wide.locator("html").getAttribute("lang"), "en", `${role} ${p} in English`);
        // The page's own words: data (table cells such as a legal basis quoted in Chinese,
        // pasted text, codes) is what it is in any language.
        const text = await wide.evaluate(() => {
          const c = document.body.cloneNode(true);
          c.querySelectorAll("table, textarea, pre, code, select").forEach((e) => e.remove());
          return c.innerText;
        });
        const ids = text.match(/\b(?:reason|query|transfer|loan|attest|audit|status|doctor)-[a-z0-9-]+\b/g);
        t.ok(!ids, `${role} ${p}: untranslated message ids ${ids}`);
        t.ok(!/[\u4e00-\u9fff]{4,}/.test(text.replace(/中文/g, "").replace(/[\u4e00-\u9fff]+市|徐州|连云港|宿迁|淮北|宿州|商丘|枣庄|济宁|临沂|菏泽/g, "")), `${role} ${p}: Chinese text left on the English page: ${text.match(/[\u4e00-\u9fff]{4,}/)}`);
      }
      await wide.getByRole("button", { name: "中文" }).click();
    }
  },
};

// The clerk's member search (/member): a clerk of centre 0 asks centre 1 about one of its
// members for two purposes and sees exactly each purpose's fields, masked; a bad check digit
// is refused in the browser and again on the server, naming the field; an unknown member and
// a wrong name are shown with their reasons beside the form.

/** ¥1,234.56 as the catalogue writes money. */
export function yuan(fen) {
  const [i, d] = (Math.abs(fen) / 100).toFixed(2).split(".");
  return `${fen < 0 ? "-" : ""}¥${i.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${d}`;
}

/** A live member of centre `i` with a resident id (the fixture's member, as JSON). */
export function liveMember(t, i, pred = () => true) {
  const m = t.members(i).find(
    (m) => (m.status === "Normal" || m.status === "01") && (m.id_type === "ResidentId" || m.id_type === "01") && pred(m),
  );
  t.ok(m, `a live member with a resident id at centre ${i}`);
  return m;
}

/** A resident id number with a wrong check character. */
export function badCheckDigit(id) {
  const last = id.slice(-1);
  return id.slice(0, 17) + (last === "1" ? "2" : "1");
}

/** A valid resident id no centre has (GB 11643 test vector). */
export const UNKNOWN_ID = "11010519491231002X";

export const maskName = (n) => n[0] + "*".repeat([...n].length - 1);
export const maskId = (id) => id.slice(0, 6) + "********" + id.slice(-4);

/** The answer's fields: {field: value} from dd[data-field]. */
async function fields(page) {
  return page.evaluate(() => {
    const out = {};
    for (const dd of document.querySelectorAll("#fields dd[data-field]")) out[dd.dataset.field] = dd.textContent.trim();
    return out;
  });
}

async function search(page, { centre, id, name, purpose, idType = "01" }) {
  await page.selectOption("#centre", centre);
  await page.selectOption("#id_type", idType);
  await page.fill("#id_number", id);
  await page.fill("#name", name);
  await page.selectOption("#purpose", purpose);
  await Promise.all([page.waitForNavigation(), page.click("#search button[type=submit]")]);
}

export default {
  name: "member",
  async run(t) {
    const peer = t.centre(1).code;
    const m = liveMember(t, 1);
    const clerk = await t.page("clerk");
    const first = await clerk.goto(t.url("/member"));
    // The paint entry may land a moment after "load" on a busy machine.
    await clerk
      .waitForFunction(() => performance.getEntriesByType("paint").length > 0, null, { timeout: 5000 })
      .catch(() => {});
    await t.firstPaint(clerk, "search page");
    t.eq(first.status(), 200, "the search page");
    t.eq(await clerk.locator("h1").innerText(), "会员查询", "its title");
    t.eq(await clerk.locator("#id_type").inputValue(), "01", "resident id card by default");
    t.has(await clerk.locator("#id_type option[value='01']").innerText(), "居民身份证", "id type in words");
    const peers = await clerk.locator("#centre option").evaluateAll((os) => os.map((o) => o.value));
    t.eq(peers.length, t.fixture.centres.length - 1, "every other centre to pick");
    t.ok(!peers.includes(t.centre(0).code), "not the own centre");
    t.has(await clerk.locator("#purpose").innerText(), "身份核验", "purposes in words");
    await t.shot(clerk, "member-form");

    // Identity confirmation: the masked name and whether the account is live, nothing else.
    await search(clerk, { centre: peer, id: m.id_number, name: m.name, purpose: "identity_confirmation" });
    let f = await fields(clerk);
    t.eq(Object.keys(f).sort().join(","), "live-account,name", "identity confirmation's fields");
    t.eq(f.name, maskName(m.name), "the name masked");
    t.eq(f["live-account"], "是", "the account is live");
    const ans = await clerk.locator("#answer").innerText();
    t.lacks(ans, "¥", "no money for identity confirmation");
    t.has(ans, "身份核验", "the purpose is named");
    t.has(ans, peer, "the centre that answered");
    t.has(ans, "本方回执", "our receipt");
    t.has(ans, "对方回执", "their receipt");
    t.ok(/日志序号 \d+/.test(await clerk.locator("#receipts").innerText()), "receipts carry log indexes");
    t.lacks(await clerk.content(), m.name, "the full name is not in the page");
    t.eq(await clerk.locator("#id_number").inputValue(), "", "the id number is not written back");
    await t.shot(clerk, "member-identity");

    // A purpose with the deposit: the balance in yuan, the id masked 6+4.
    await search(clerk, { centre: peer, id: m.id_number, name: m.name, purpose: "loan_application" });
    f = await fields(clerk);
    t.eq(f.name, maskName(m.name), "the name masked");
    t.eq(f["id-number"], maskId(m.id_number), "the id number masked (first 6 + last 4)");
    t.eq(f.balance, yuan(m.balance_fen), "the balance in yuan");
    t.eq(f.status, "正常 (01)", "the status in words");
    t.ok(f["deposit-base"] && f["deposit-base"].startsWith("¥"), "the deposit base in yuan");
    t.ok(f.employer, "the employer's name");
    t.ok(!("six-months" in f), "no six-month flag for a loan application");
    await t.shot(clerk, "member-loan-application");

    // Transfer check: balance and the six-month flag, but no name and no id number.
    await search(clerk, { centre: peer, id: m.id_number, name: m.name, purpose: "transfer_check" });
    f = await fields(clerk);
    t.eq(f.balance, yuan(m.balance_fen), "the balance in yuan");
    t.ok("six-months" in f && "paid-up-to" in f, "transfer check's fields");
    t.ok(!("name" in f) && !("id-number" in f) && !("employer" in f), "nothing of identity for a transfer check");

    // A bad check digit: refused in the browser, the message names the field; nothing is sent.
    await clerk.goto(t.url("/member"));
    const bad = badCheckDigit(m.id_number);
    await clerk.selectOption("#centre", peer);
    await clerk.fill("#id_number", bad);
    await clerk.fill("#name", m.name);
    let posted = false;
    const onReq = (r) => { if (r.method() === "POST") posted = true; };
    clerk.on("request", onReq);
    await clerk.click("#search button[type=submit]");
    await clerk.waitForTimeout(300);
    clerk.off("request", onReq);
    t.ok(!posted, "a bad check digit is not sent");
    const vmsg = await clerk.locator("#id_number").evaluate((e) => e.validationMessage);
    t.has(vmsg, "证件号码", "the browser's message names the field");
    t.has(await clerk.locator("#id_number-error").innerText(), "证件号码", "shown beside the field");
    await t.shot(clerk, "member-bad-id-browser");

    // Without the browser's check, the server refuses it, naming the field, and sends nothing.
    const csrf = await clerk.locator("input[name=_csrf]").first().inputValue();
    const r = await t.post(clerk, "/member", {
      _csrf: csrf, centre: peer, id_type: "01", id_number: bad, name: m.name, purpose: "identity_confirmation",
    });
    t.eq(r.status, 400, "the server refuses a bad check digit");
    t.has(r.text, "证件号码", "the server's error names the field");
    t.has(r.text, "身份证号码不正确", "and says what is wrong");
    t.lacks(r.text, bad, "the posted id number is not echoed");
    t.lacks(r.text, 'id="answer"', "no answer");
    await clerk.fill("#id_number", bad);
    await clerk.evaluate(() => {
      document.getElementById("id_number").removeAttribute("data-check");
      document.getElementById("search").noValidate = true;
    });
    await Promise.all([clerk.waitForNavigation(), clerk.click("#search button[type=submit]")]);
    t.has(await clerk.locator("#id_number-error").innerText(), "证件号码", "the server's error beside the field");
    t.eq(await clerk.locator("#answer").count(), 0, "nothing was asked");
    await t.shot(clerk, "member-bad-id-server");

    // An unknown member: MEMBER_NOT_FOUND with its advice.
    await search(clerk, { centre: peer, id: UNKNOWN_ID, name: "王五", purpose: "identity_confirmation" });
    const box = clerk.locator("div.error[data-reason]");
    t.eq(await box.getAttribute("data-reason"), "MEMBER_NOT_FOUND", "an unknown member");
    t.has(await box.innerText(), "该中心没有此证件号码的缴存职工", "the advice in words");
    t.has(await clerk.locator("main").innerText(), "110105********002X", "who was asked about, masked");
    t.eq(await clerk.locator("#search").count(), 1, "the form stays");
    await t.shot(clerk, "member-not-found");

    // A wrong name: NAME_MISMATCH.
    const other = [...m.name].length > 1 ? m.name.slice(0, -1) + (m.name.slice(-1) === "伟" ? "强" : "伟") : m.name + "伟";
    await search(clerk, { centre: peer, id: m.id_number, name: other, purpose: "identity_confirmation" });
    t.eq(await box.getAttribute("data-reason"), "NAME_MISMATCH", "a wrong name");
    await t.shot(clerk, "member-name-mismatch");
  },
};

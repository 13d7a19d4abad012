// Deposit-use certificates (docs/attestation.md): a clerk of centre 0 requests one for a
// member of centre 0 and gets the printable A4 page (QR code as inline SVG, the person masked);
// the id's status page; the verify page accepts the pasted QR text and the uploaded file,
// refuses a tampered one by its signature check, and, once the issuer revoked it, refuses it
// by the issuer's online answer.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
function b45decode(s) {
  const out = [];
  for (let i = 0; i < s.length; i += 3) {
    const c = [...s.slice(i, i + 3)].map((ch) => B45.indexOf(ch));
    if (c.length === 3) {
      const v = c[0] + c[1] * 45 + c[2] * 2025;
      out.push(v >> 8, v & 0xff);
    } else {
      out.push(c[0] + c[1] * 45);
    }
  }
  return out;
}
function b45encode(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 2) {
    if (i + 1 < bytes.length) {
      let v = bytes[i] * 256 + bytes[i + 1];
      s += B45[v % 45];
      v = Math.floor(v / 45);
      s += B45[v % 45] + B45[Math.floor(v / 45)];
    } else {
      s += B45[bytes[i] % 45] + B45[Math.floor(bytes[i] / 45)];
    }
  }
  return s;
}
const mask = (name) => [...name].length === 1 ? "*" : [...name][0] + "*".repeat([...name].length - 1);

export default {
  name: "certificates",
  async run(t) {
    const centre = t.centre(0);
    const member = t.members(0).find(
      (m) => (m.status === "Normal" || m.status === "01") && (m.id_type === "ResidentId" || m.id_type === "01"),
    );
    t.ok(member, "a member of centre 0 with a normal account and a resident id");

    const clerk = await t.page("clerk");
    await clerk.goto(t.url("/certificates"));
    t.eq(await clerk.locator("h1").innerText(), "缴存证明", "the certificates page's title");
    t.eq(await clerk.locator("#verify-link").getAttribute("href"), "/certificates/verify", "a link to verify");
    await t.firstPaint(clerk, "certificates");
    await t.shot(clerk, "certificates-form");

    // A bad id number is refused on the server too (the browser check bypassed), naming the field.
    const bad = await clerk.evaluate(async () => {
      const f = document.getElementById("request");
      const body = new URLSearchParams(new FormData(f));
      body.set("id_number", "110105194912310021");
      body.set("name", "张三");
      const r = await fetch("/certificates", { method: "POST", body });
      return { status: r.status, text: await r.text() };
    });
    t.eq(bad.status, 400, "a wrong check digit");
    t.has(bad.text, "证件号码", "the error names the field");

    // Request: the answer is the certificate page.
    await clerk.locator("#centre").selectOption(centre.code);
    await clerk.locator("#id_type").selectOption("01");
    await clerk.locator("#id_number").fill(member.id_number);
    await clerk.locator("#name").fill(member.name);
    await clerk.locator("#valid_days").fill("30");
    await Promise.all([clerk.waitForNavigation(), clerk.locator("#request button[type=submit]").click()]);
    t.eq(await clerk.locator("h1").innerText(), "缴存使用证明", "the certificate page");
    t.eq(await clerk.locator(".a4 .qr svg").count(), 1, "the QR code as inline SVG");
    t.ok((await clerk.locator(".a4 .qr svg path").getAttribute("d")).length > 100, "the QR code has modules");
    const sheet = await clerk.locator(".a4").innerText();
    t.lacks(sheet, member.id_number, "no full id number on the certificate");
    t.eq((await clerk.locator("#cert-name").innerText()).trim(), mask(member.name), "the name masked");
    t.eq(
      (await clerk.locator("#cert-id-number").innerText()).trim(),
      member.id_number.slice(0, 6) + "********" + member.id_number.slice(-4),
      "the id number masked",
    );
    t.has(await clerk.locator("#cert-issuer").innerText(), "徐州", "the issuing centre");
    t.has(await clerk.locator("#cert-balance").innerText(), "¥", "the balance as money");
    t.has(await clerk.locator("#cert-status").innerText(), "正常", "the account's status");
    t.has(await clerk.locator("#cert-until").innerText(), "年", "the validity in Chinese");
    t.eq((await clerk.locator("#state").innerText()).trim(), "有效", "valid online");
    const compact = (await clerk.locator("#qr-text").inputValue()).trim();
    t.ok(compact.startsWith("HFX1:"), "the QR text is the compact form");
    const id = (await clerk.locator("#cert-id").innerText()).trim();
    t.ok(/^[0-9a-f-]{36}$/.test(id), "the certificate id");
    t.eq(await clerk.locator("button[data-print]").count(), 1, "a print button");
    t.lacks(clerk.url(), member.id_number, "no id in the URL");
    await t.shot(clerk, "certificate-a4");

    // The print look: no header, navigation or forms; the sheet and its QR code stay.
    await clerk.emulateMedia({ media: "print" });
    t.ok(!(await clerk.locator("header.top").isVisible()), "the header is not printed");
    t.ok(!(await clerk.locator("#revoke").isVisible()), "the revoke form is not printed");
    t.ok(await clerk.locator(".a4 .qr svg").isVisible(), "the QR code is printed");
    await t.shot(clerk, "certificate-print");
    await clerk.emulateMedia({ media: "screen" });

    // The id's own page: its status.
    await clerk.goto(t.url(`/certificates/${id}`));
    t.eq((await clerk.locator("#state").innerText()).trim(), "有效", "the status page says valid");
    t.has(await clerk.locator("#cert-id").innerText(), id, "the status page names the id");
    await t.shot(clerk, "certificate-status");

    // Verify the pasted QR text.
    await clerk.goto(t.url("/certificates/verify"));
    await t.shot(clerk, "certificate-verify-form");
    await clerk.locator("#compact").fill(compact);
    await Promise.all([clerk.waitForNavigation(), clerk.locator("#verify button[type=submit]").click()]);
    t.eq(await clerk.locator("#result").getAttribute("data-valid"), "true", "the pasted certificate is valid");
    t.has(await clerk.locator("#result").innerText(), "证明有效", "valid in words");
    t.has(await clerk.locator("#result").innerText(), "离线核验通过", "offline check named");
    t.eq((await clerk.locator("#result #state").innerText()).trim(), "有效", "and valid online");
    t.eq((await clerk.locator("#result #cert-name").innerText()).trim(), mask(member.name), "the verified name masked");
    await t.shot(clerk, "certificate-verify-valid");

    // A tampered one: one character of the contact field ("12329") changed; the signature breaks.
    const bytes = b45decode(compact.slice(5));
    const enc = new TextEncoder().encode("12329");
    let at = -1;
    for (let i = bytes.length - enc.length; i >= 0 && at < 0; i--) {
      if (enc.every((b, k) => bytes[i + k] === b)) at = i;
    }
    t.ok(at > 0, "the contact field in the payload");
    bytes[at + 4] = "8".charCodeAt(0);
    const tampered = "HFX1:" + b45encode(bytes);
    t.eq(tampered.length, compact.length, "the tampered text is as long");
    let diff = 0;
    for (let i = 0; i < compact.length; i++) if (compact[i] !== tampered[i]) diff++;
    t.ok(diff >= 1 && diff <= 2, `the tampered text differs in a character (${diff})`);
    await clerk.goto(t.url("/certificates/verify"));
    await clerk.locator("#compact").fill(tampered);
    await Promise.all([clerk.waitForNavigation(), clerk.locator("#verify button[type=submit]").click()]);
    t.eq(await clerk.locator("#result").getAttribute("data-valid"), "false", "the tampered one is refused");
    t.eq(await clerk.locator("#result").getAttribute("data-check"), "signature", "by the signature check");
    t.has(await clerk.locator("#result").innerText(), "签名无效", "named in words");
    await t.shot(clerk, "certificate-verify-tampered");

    // Garbage is refused by the format check.
    await clerk.locator("#compact").fill("HFX1:NOT-A-CERTIFICATE");
    await Promise.all([clerk.waitForNavigation(), clerk.locator("#verify button[type=submit]").click()]);
    t.eq(await clerk.locator("#result").getAttribute("data-check"), "format", "not a certificate");
    await t.shot(clerk, "certificate-verify-format");

    // By file upload: the file `hfx attest request --out` writes (the compact text and a newline).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hfx-cert-"));
    const file = path.join(dir, "certificate.txt");
    fs.writeFileSync(file, compact + "\n");
    await clerk.goto(t.url("/certificates/verify"));
    await clerk.locator("#file").setInputFiles(file);
    await Promise.all([clerk.waitForNavigation(), clerk.locator("#verify button[type=submit]").click()]);
    t.eq(await clerk.locator("#result").getAttribute("data-valid"), "true", "the uploaded file is valid");
    t.has(await clerk.locator("#result").innerText(), id, "the uploaded certificate's id");
    await t.shot(clerk, "certificate-verify-file");
    fs.rmSync(dir, { recursive: true, force: true });

    // The issuer (centre 0 itself) revokes it; its page and the verify page then say so.
    await clerk.goto(t.url(`/certificates/${id}`));
    await clerk.locator("#reason").fill("测试撤销");
    await Promise.all([clerk.waitForNavigation(), clerk.locator("#revoke button[type=submit]").click()]);
    t.eq(clerk.url(), t.url(`/certificates/${id}`), "back on the status page");
    t.eq((await clerk.locator("#state").innerText()).trim(), "已撤销", "revoked");
    t.has(await clerk.locator("#revoked-reason").innerText(), "REVOKED_BY_ISSUER", "the revocation's reason");
    t.eq(await clerk.locator("#revoke").count(), 0, "no revoke form once revoked");
    await t.shot(clerk, "certificate-revoked");
    await clerk.goto(t.url("/certificates/verify"));
    await clerk.locator("#compact").fill(compact);
    await Promise.all([clerk.waitForNavigation(), clerk.locator("#verify button[type=submit]").click()]);
    t.eq(await clerk.locator("#result").getAttribute("data-valid"), "false", "a revoked certificate is refused");
    t.eq(await clerk.locator("#result").getAttribute("data-check"), "online", "by the issuer's online answer");
    t.has(await clerk.locator("#result").innerText(), "已撤销", "revoked in words");
    await t.shot(clerk, "certificate-verify-revoked");

    // Another role may not open the pages.
    const auditor = await t.page("auditor");
    const r = await auditor.goto(t.url("/certificates/verify"));
    t.eq(r.status(), 403, "an auditor on the clerk's certificate pages");
  },
};

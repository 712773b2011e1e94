// The dashboard in a real browser (Debian's chromium, driven by playwright-core): the page
// shows 3 replicas, up; the ring's shares add up to 1; the replica whose PID is given is
// killed and its row turns from up to not up, then up again; /add from the form adds a
// 4th. Started by dashboard_test.py, which runs lbd:
//   node dashboard_check.js ADMIN_URL VICTIM_NAME VICTIM_PID [SCREENSHOT.png]
// Prints one line per step; exits 1 at the first that fails.
"use strict";
const { chromium } = require("playwright-core");

const [url, victim, victimPid, screenshot] = process.argv.slice(2);

function step(text) {
  console.log(`[dashboard] ${text}`);
}

async function shares(page) {
  return page.$$eval("#legend .share", items =>
    items.map(item => ({ name: item.dataset.replica, share: Number(item.dataset.share) })));
}

async function expectShares(page, count) {
  await page.waitForFunction(n => document.querySelectorAll("#legend .share").length === n,
                             count, { timeout: 10000 });
  const found = await shares(page);
  const total = found.reduce((sum, s) => sum + s.share, 0);
  if (Math.abs(total - 1) > 1e-9 || found.some(s => !(s.share > 0))) {
    throw new Error(`the ring's shares do not add up: ${JSON.stringify(found)}`);
  }
  step(`the strip's ${count} shares add up to ${total.toFixed(12)}: ` +
       found.map(s => `${s.name} ${(s.share * 100).toFixed(1)} %`).join(", "));
}

async function healthOf(page, name) {
  return page.$eval(`tr[data-replica="${name}"]`, row => row.dataset.health).catch(() => "absent");
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 820 } });
    const failed = [];
    page.on("pageerror", error => failed.push(String(error)));
    await page.goto(url);
    await page.waitForFunction(() =>
      [...document.querySelectorAll("tr[data-replica]")].filter(r => r.dataset.health === "up")
        .length === 3, null, { timeout: 10000 });
    step("the page shows 3 replicas, all up");
    await expectShares(page, 3);

    process.kill(Number(victimPid), "SIGKILL");
    const killed = Date.now();
    await page.waitForFunction(name => {
      const row = document.querySelector(`tr[data-replica="${name}"]`);
      return row !== null && row.dataset.health !== "up";
    }, victim, { timeout: 10000, polling: 20 });
    step(`${victim} killed: its row shows ${await healthOf(page, victim)} after ` +
         `${Date.now() - killed} ms`);
    await page.waitForFunction(name => {
      const row = document.querySelector(`tr[data-replica="${name}"]`);
      return row !== null && row.dataset.health === "up";
    }, victim, { timeout: 15000 });
    step(`${victim} is up again ${Date.now() - killed} ms after the kill`);
    await page.waitForSelector(`#events li[data-what="respawned"][data-replica="${victim}"]`,
                               { timeout: 5000 });
    step("the events list shows the respawn");

    await page.fill("#add-form input[name=hostnames]", "Server4");
    await page.click("#add-form button");
    await page.waitForFunction(() => document.querySelectorAll("tr[data-replica]").length === 4,
                               null, { timeout: 15000 });
    await page.waitForSelector('tr[data-replica="Server4"][data-health="up"]', { timeout: 15000 });
    const answer = await page.textContent("#answer");
    step(`/add from the form: a 4th replica, up (${answer.trim()})`);
    await expectShares(page, 4);
    if (failed.length) {
      throw new Error(`the page raised: ${failed.join("; ")}`);
    }
    if (screenshot) {
      await page.waitForTimeout(1200); // two refreshes: requests/s filled in
      await page.screenshot({ path: screenshot, fullPage: true });
      step(`screenshot: ${screenshot}`);
    }
  } finally {
    await browser.close();
  }
}

main().catch(error => {
  console.error(`[dashboard] FAILED: ${error.message}`);
  process.exit(1);
});

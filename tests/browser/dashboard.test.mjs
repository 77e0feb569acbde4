// The dashboard example (examples/dashboard) in a real Chromium: the
// server's figures arrive several times a second and the page draws them on
// its canvases (checked by their pixels, and a screenshot saved as an
// artifact); a burst of messages shows in the messages/s figure; a second
// page shows in the connections figure.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { startExample } from "./examples.mjs";
import { ARTIFACTS, launchBrowser, newPage, TEST_TIMEOUT } from "./support.mjs";

let chrome;
let server;
before(async () => {
  chrome = await launchBrowser();
  server = await startExample("dashboard", ["--period-ms", "100"]);
});
after(async () => {
  await server?.stop();
  await chrome?.close();
});

const updates = (page) => page.evaluate(() => Number(document.body.dataset.updates || 0));

/** Pixels of each canvas drawn in its series' color (the line and the area under it). */
function coloredPixels(page) {
  return page.$$eval("canvas", (canvases) => canvases.map((c) => {
    const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
      if (a > 200 && Math.max(r, g, b) - Math.min(r, g, b) > 60) ++n; // saturated: a series color, not grey text
    }
    return n;
  }));
}

test("the dashboard draws live figures", { timeout: TEST_TIMEOUT }, async () => {
  const page = await newPage(chrome.browser);
  await page.setViewportSize({ width: 1000, height: 760 });
  await page.goto(server.url + "/");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("live from ws://"));
  await page.waitForFunction(() => Number(document.body.dataset.updates || 0) >= 20);
  // Several updates a second (10 configured; at least 5 seen in a second).
  const n0 = await updates(page);
  await page.waitForTimeout(1000);
  assert.ok((await updates(page)) - n0 >= 5, "at least 5 updates in a second");

  // A second page: two connections.
  const other = await newPage(chrome.browser);
  await other.goto(server.url + "/");
  await page.waitForFunction(() => document.querySelector(".panel .value").textContent === "2");
  // A burst of 200 messages shows in messages/s.
  await page.click("#burst");
  await page.waitForFunction(() => Number(document.querySelectorAll(".panel .value")[1].textContent) >= 100);
  await page.waitForTimeout(2500); // a few more points after the burst

  const pixels = await coloredPixels(page);
  assert.equal(pixels.length, 3);
  for (const [i, n] of pixels.entries()) assert.ok(n > 400, `canvas ${i} has its chart drawn (${n} colored pixels)`);
  const metric = Number(await page.textContent(".panel:nth-child(3) .value"));
  assert.ok(metric >= 0 && metric <= 100, `the metric is in range (${metric})`);
  await page.screenshot({ path: join(ARTIFACTS, "dashboard.png") });
  assert.deepEqual(page.errors, []);
  await other.context().close();
  await page.context().close();
});

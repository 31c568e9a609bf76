// Opens a deck rendered by Marp CLI in headless Chromium and reports, slide by slide, what a viewer sees.
// Usage: node tests/deck_check.mjs DECK.html   (PLAYWRIGHT_MODULE: playwright-core's package.json)
// Prints one JSON object: {"slides": [{"number", "text", "boxes", "problems": [...]}], "errors", "requests"}.
// Each slide is shown the way a presenter shows it (its #N address), then measured: its text, the elements
// with a visible box, and every overflow: the slide scrolling, an element's box outside the slide, a clipped
// element scrolling. "errors" are the page's script errors; "requests" whatever it fetched from a network.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(process.env.PLAYWRIGHT_MODULE);
const { chromium } = require("playwright-core");
const SLIDE = "svg[data-marpit-svg] > foreignObject > section";
const profile = mkdtempSync(join(tmpdir(), "deck-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 720 },
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  const requests = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("request", (request) => {
    if (!/^(file|data|blob|about):/.test(request.url())) requests.push(request.url());
  });
  await page.goto(pathToFileURL(resolve(process.argv[2])).href);
  const count = await page.locator(SLIDE).count();
  const slides = [];
  for (let number = 1; number <= count; number += 1) {
    await page.evaluate((n) => { location.hash = `#${n}`; }, number);
    await page.waitForFunction(
      (n) => document.querySelectorAll("svg[data-marpit-svg]")[n - 1].classList.contains("bespoke-marp-active"),
      number,
    );
    slides.push(await page.evaluate(measure, { selector: SLIDE, index: number - 1 }));
  }
  console.log(JSON.stringify({ slides, errors, requests }));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

function measure({ selector, index }) {
  const slide = document.querySelectorAll(selector)[index];
  const frame = slide.getBoundingClientRect();
  const problems = [];
  const slack = 1; // sub-pixel rounding
  const name = (element) =>
    `<${element.tagName.toLowerCase()}> "${element.textContent.replace(/\s+/g, " ").trim().slice(0, 40)}"`;
  if (slide.scrollHeight > slide.clientHeight + slack || slide.scrollWidth > slide.clientWidth + slack) {
    problems.push(
      `content ${slide.scrollWidth}x${slide.scrollHeight} px overflows the slide ${slide.clientWidth}x${slide.clientHeight}`,
    );
  }
  let boxes = 0;
  const outside = new Set(); // one line for a list that runs off the slide, not one per item
  for (const element of slide.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    boxes += 1;
    if (box.left < frame.left - slack || box.top < frame.top - slack ||
        box.right > frame.right + slack || box.bottom > frame.bottom + slack) {
      outside.add(element);
      if (!outside.has(element.parentElement)) problems.push(`${name(element)} lies outside the slide`);
    }
    const style = getComputedStyle(element);
    const clipped = style.overflowX !== "visible" || style.overflowY !== "visible";
    if (clipped && (element.scrollWidth > element.clientWidth + slack || element.scrollHeight > element.clientHeight + slack)) {
      problems.push(`${name(element)} is cut off: ${element.scrollWidth}x${element.scrollHeight} px in ${element.clientWidth}x${element.clientHeight}`);
    }
  }
  return { number: index + 1, text: slide.innerText.trim(), boxes, problems };
}

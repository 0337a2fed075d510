// Drives chunkserve's pages in Debian's Chromium through playwright-core (no bundled browser).
//
//   node pages.test.mjs http://127.0.0.1:8080 [chat] [chat-cancel] [sse-parser] [complete]
//
// Prints one line per check: "PASS name", "FAIL name: why" or "SKIP name: why"; exits 1 when a
// check failed. CHROMIUM overrides the browser path (default /usr/bin/chromium). PAGES_DIR serves
// the pages (html/js/css) from a directory instead of the server, e.g. a checkout's webroot
// against a server built from another branch.
import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const base = (process.argv[2] || 'http://127.0.0.1:8080').replace(/\/$/, '');
const wanted = process.argv.slice(3);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const pagesDir = process.env.PAGES_DIR;

class Skip extends Error { }

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** Clicks `buttonSelector` from inside the page as soon as `selector` matches: no round trip through the test. */
async function clickWhenSeen(page, selector, buttonSelector) {
  await page.evaluate(([sel, btn]) => {
    const obs = new MutationObserver(() => {
      if (document.querySelector(sel)) {
        obs.disconnect();
        document.querySelector(btn).click();
      }
    });
    obs.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  }, [selector, buttonSelector]);
}

const checks = {
  /** Chat over /v1/ws: a reply streams in and finishes. */
  async chat(page) {
    await page.goto(`${base}/chat.html`);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'connected');
    await page.fill('#max-tokens', '16');
    await page.fill('#temperature', '0');
    await page.fill('#prompt', 'Hello there');
    await page.click('#send');
    const first = page.locator('.msg.assistant').nth(0);
    await page.waitForFunction(() => {
      const t = document.querySelector('.msg.assistant .text');
      return t && t.textContent.length > 0;
    });
    await first.and(page.locator('[data-state="done"]')).waitFor();
    const tokens = Number(await first.getAttribute('data-tokens'));
    const finish = await first.getAttribute('data-finish');
    assert(tokens > 0 && tokens <= 16, `first reply has ${tokens} tokens`);
    assert(finish === 'length' || finish === 'stop', `first reply finished with ${finish}`);
    assert((await page.locator('.msg.user').count()) === 1, 'the user message is shown');
  },

  /**
   * Cancel: a reply of up to 480 tokens, cancelled by the page's button at its first token. Run it
   * against a server that cannot finish 480 tokens before a browser round trip (the test suite uses
   * the synthetic engine at a fixed rate; a warm tiny model can).
   */
  async 'chat-cancel'(page) {
    await page.goto(`${base}/chat.html`);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'connected');
    await page.fill('#temperature', '0');
    await page.fill('#max-tokens', '480');
    await page.fill('#prompt', 'Tell me a long story');
    await clickWhenSeen(page, '.msg.assistant[data-id="m1"][data-tokens]', '#cancel');
    await page.click('#send');
    const second = page.locator('.msg.assistant[data-id="m1"]');
    await second.and(page.locator('[data-state="done"]')).waitFor();
    const finish2 = await second.getAttribute('data-finish');
    const tokens2 = Number(await second.getAttribute('data-tokens'));
    assert(finish2 === 'abort', `cancelled reply finished with ${finish2}`);
    assert(tokens2 > 0 && tokens2 < 480, `cancelled reply has ${tokens2} tokens`);
    assert((await second.locator('.meta').textContent()).startsWith('cancelled'), 'the reply says it was cancelled');
    assert(!(await page.locator('#send').isDisabled()), 'Send is enabled again');
  },

  /** The completion page's SSE reading, on OpenAI's exact framing split at every byte. */
  async 'sse-parser'(page) {
    await page.goto(`${base}/complete.html`);
    const result = await page.evaluate(() => {
      const chunk = (text, finish) => JSON.stringify({ id: 'cmpl-1', object: 'text_completion', created: 1, model: 'm',
        choices: [{ index: 0, text, logprobs: null, finish_reason: finish }] });
      const stream = `data: ${chunk('Hel', null)}\n\n` + ': keep-alive\n\n'
        + `data: ${chunk('lo wörld ✓', null)}\r\n\r\n` + `data: ${chunk('!', 'length')}\r\r`
        + `data: ${JSON.stringify({ id: 'cmpl-1', object: 'text_completion', created: 1, model: 'm', choices: [],
          usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 } })}\n\n`
        + 'data: [DONE]\n\n';
      const bytes = new TextEncoder().encode(stream);
      const failures = [];
      for (const size of [1, 2, 3, 5, 7, 64, bytes.length]) {
        const acc = createCompletionAccumulator();
        const parser = createSseParser(acc.onEvent);
        const decoder = new TextDecoder();
        for (let i = 0; i < bytes.length; i += size) parser.push(decoder.decode(bytes.subarray(i, i + size), { stream: true }));
        parser.push(decoder.decode());
        parser.end();
        const got = JSON.stringify([acc.text, acc.finishReason, acc.usage && acc.usage.completion_tokens, acc.done, acc.error]);
        const want = JSON.stringify(['Hello wörld ✓!', 'length', 3, true, null]);
        if (got !== want) failures.push(`chunks of ${size}: ${got}`);
      }
      // Multi-line data joins with \n; an error chunk is reported; a trailing event without a blank line is dropped.
      const events = [];
      const p = createSseParser((ev) => events.push(ev.data));
      p.push('data: a\ndata:b\n\nevent: x\ndata: {"error":{"message":"boom"}}\n\ndata: partial');
      p.end();
      if (JSON.stringify(events) !== JSON.stringify(['a\nb', '{"error":{"message":"boom"}}'])) failures.push('events ' + JSON.stringify(events));
      const acc = createCompletionAccumulator();
      acc.onEvent({ data: events[1] });
      if (acc.error !== 'boom') failures.push('error chunk: ' + acc.error);
      return failures;
    });
    assert(result.length === 0, result.join('; '));
  },

  /** The completion page against the real POST /v1/completions: tokens stream in; Stop aborts. */
  async complete(page) {
    const probe = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    if (probe.status === 404) throw new Skip('POST /v1/completions is not served by this build');
    await page.goto(`${base}/complete.html`);
    await page.fill('#prompt', 'Once upon a time');
    await page.fill('#max-tokens', '16');
    await page.fill('#temperature', '0');
    await page.click('#run');
    await page.waitForFunction(() => ['done', 'error'].includes(document.getElementById('output').dataset.state));
    const state = await page.locator('#output').getAttribute('data-state');
    assert(state === 'done', `completion ended in state ${state}: ${await page.locator('#meta').textContent()}`);
    assert((await page.locator('#text').textContent()).length > 0, 'completion text appeared');
    assert(/completion tokens/.test(await page.locator('#meta').textContent()), 'usage is shown');

    await page.fill('#max-tokens', '480');
    await clickWhenSeen(page, '#output[data-state="streaming"] #text:not(:empty)', '#stop');
    await page.click('#run');
    await page.waitForFunction(() => ['done', 'error', 'stopped'].includes(document.getElementById('output').dataset.state));
    const stopped = await page.locator('#output').getAttribute('data-state');
    assert(stopped === 'stopped', `Stop left the page in state ${stopped}`);
  },
};

async function main() {
  if (!existsSync(executablePath)) {
    console.log(`FAIL setup: no Chromium at ${executablePath} (apt-get install chromium, or set CHROMIUM)`);
    process.exit(1);
  }
  const names = wanted.length ? wanted : Object.keys(checks);
  for (const n of names) if (!checks[n]) { console.log(`FAIL setup: unknown check ${n}`); process.exit(1); }
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  let failed = false;
  try {
    for (const name of names) {
      const context = await browser.newContext();
      if (pagesDir) {
        await context.route(/\/[\w.-]+\.(html|js|css)(\?.*)?$/, (route) => {
          const file = new URL(route.request().url()).pathname.slice(1);
          return route.fulfill({ path: join(pagesDir, file) });
        });
      }
      const page = await context.newPage();
      page.setDefaultTimeout(20000);
      const pageErrors = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      try {
        await checks[name](page);
        assert(pageErrors.length === 0, 'page errors: ' + pageErrors.join('; '));
        console.log(`PASS ${name}`);
      } catch (e) {
        if (e instanceof Skip) {
          console.log(`SKIP ${name}: ${e.message}`);
        } else {
          failed = true;
          console.log(`FAIL ${name}: ${(e && e.message ? e.message : String(e)).split('\n')[0]}`);
          if (e && e.stack) console.error(e.stack);
        }
      } finally {
        await context.close();
      }
    }
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL setup: ${e && e.message ? e.message.split('\n')[0] : e}`);
  console.error(e);
  process.exit(1);
});

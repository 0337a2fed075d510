// Runs the official OpenAI Node client, unchanged, against a chunkserve server and checks what
// comes back: chat and completions, streamed and not, usage, and OpenAI-shaped errors.
//
//   CHUNKSERVE_BASE_URL=http://127.0.0.1:8080/v1 [CHUNKSERVE_API_KEY=sk-...] node openai-client.mjs
//
// Exits 0 when everything matches, 1 (after printing each mismatch) otherwise.
import OpenAI from 'openai';

const baseURL = process.env.CHUNKSERVE_BASE_URL;
if (!baseURL) {
  console.error('set CHUNKSERVE_BASE_URL, e.g. http://127.0.0.1:8080/v1');
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: process.env.CHUNKSERVE_API_KEY ?? 'none', maxRetries: 0, timeout: 60_000 });

let failures = 0;
function check(cond, what, got) {
  if (cond) {
    console.log(`ok   ${what}`);
  } else {
    failures++;
    console.log(`FAIL ${what}${got === undefined ? '' : ': ' + JSON.stringify(got)}`);
  }
}

async function expectError(what, status, code, call) {
  try {
    await call();
    check(false, `${what} should fail`);
  } catch (e) {
    check(e instanceof OpenAI.APIError, `${what}: APIError`, e?.message);
    check(e.status === status, `${what}: status ${status}`, e.status);
    check(e.code === code, `${what}: code ${code}`, e.code);
  }
}

const models = await client.models.list();
const model = models.data[0]?.id;
check(typeof model === 'string', 'models.list names the served model', models.data);

// Chat, not streamed (greedy, so the stream below must say the same).
const params = { model, messages: [{ role: 'user', content: 'Hello from Node' }], max_tokens: 8, temperature: 0, ignore_eos: true };
const chat = await client.chat.completions.create(params);
check(chat.object === 'chat.completion', 'chat: object', chat.object);
check(chat.id.startsWith('chatcmpl-'), 'chat: id', chat.id);
check(chat.choices.length === 1 && chat.choices[0].message.role === 'assistant', 'chat: one assistant message', chat.choices);
check(typeof chat.choices[0].message.content === 'string', 'chat: content is a string');
check(chat.choices[0].finish_reason === 'length', 'chat: finish_reason', chat.choices[0].finish_reason);
check(chat.usage.completion_tokens === 8, 'chat: usage.completion_tokens', chat.usage);
check(chat.usage.total_tokens === chat.usage.prompt_tokens + 8, 'chat: usage.total_tokens', chat.usage);

// Chat, streamed, with usage.
const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
let text = '';
let role;
let finish;
let usage;
let chunks = 0;
for await (const chunk of stream) {
  chunks++;
  check(chunk.object === 'chat.completion.chunk', `chat stream: chunk ${chunks} object`, chunk.object);
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    if (c.delta.role) role = c.delta.role;
    if (c.delta.content) text += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
}
check(role === 'assistant', 'chat stream: role chunk', role);
check(text === chat.choices[0].message.content, 'chat stream: same text as the non-streamed answer', [text, chat.choices[0].message.content]);
check(finish === 'length', 'chat stream: finish_reason', finish);
check(usage?.completion_tokens === 8, 'chat stream: usage chunk', usage);

// The stream helper of the SDK, too.
const runner = client.chat.completions.stream({ ...params });
const final = await runner.finalChatCompletion();
check(final.choices[0].message.content === chat.choices[0].message.content, 'chat stream helper: final message', final.choices[0].message);

// Completions, not streamed and streamed.
const cparams = { model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0, ignore_eos: true };
const comp = await client.completions.create(cparams);
check(comp.object === 'text_completion', 'completion: object', comp.object);
check(comp.id.startsWith('cmpl-'), 'completion: id', comp.id);
check(typeof comp.choices[0].text === 'string', 'completion: text');
check(comp.usage.completion_tokens === 6, 'completion: usage', comp.usage);
let ctext = '';
let cfinish;
for await (const chunk of await client.completions.create({ ...cparams, stream: true })) {
  for (const c of chunk.choices) {
    ctext += c.text;
    if (c.finish_reason) cfinish = c.finish_reason;
  }
}
check(ctext === comp.choices[0].text, 'completion stream: same text', [ctext, comp.choices[0].text]);
check(cfinish === 'length', 'completion stream: finish_reason', cfinish);

// Errors arrive as the SDK's typed errors.
await expectError('unknown model', 404, 'model_not_found', () => client.chat.completions.create({ ...params, model: 'no-such-model' }));
await expectError('bad temperature', 400, 'invalid_type', () => client.chat.completions.create({ ...params, temperature: 'hot' }));
await expectError('context overflow', 400, 'context_length_exceeded', () => client.completions.create({ ...cparams, max_tokens: 1_000_000 }));

console.log(failures === 0 ? 'all checks passed' : `${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);

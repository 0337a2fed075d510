'use strict';
/**
 * A Server-Sent Events parser for fetch() streams (EventSource cannot POST).
 * Follows the WHATWG event-stream rules: lines end in \n, \r\n or \r (also when split across
 * chunks); a blank line dispatches the event; "data:" lines join with \n; one space after the
 * colon is dropped; lines starting with ":" are comments; an event without a final blank line
 * is dropped at the end of the stream.
 *
 *   const p = createSseParser((ev) => console.log(ev.event, ev.data));
 *   p.push(decoder.decode(chunk, {stream: true})); ... p.end();
 */
function createSseParser(onEvent) {
  let buf = '';
  let data = [];
  let event = '';
  let pendingCR = false; // the previous chunk ended in \r: a \n starting this one belongs to it

  function line(l) {
    if (l === '') {
      if (data.length) onEvent({ event: event || 'message', data: data.join('\n') });
      data = [];
      event = '';
      return;
    }
    if (l.charCodeAt(0) === 58) return; // ':' comment (keep-alive)
    const colon = l.indexOf(':');
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? '' : l.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
  }

  return {
    push(text) {
      if (pendingCR && text.charCodeAt(0) === 10) text = text.slice(1);
      pendingCR = false;
      buf += text;
      let start = 0;
      for (let i = 0; i < buf.length; i++) {
        const c = buf.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        line(buf.slice(start, i));
        if (c === 13) {
          if (i + 1 === buf.length) pendingCR = true;
          else if (buf.charCodeAt(i + 1) === 10) i++;
        }
        start = i + 1;
      }
      buf = buf.slice(start);
    },
    end() {
      buf = '';
      data = [];
      event = '';
    },
  };
}

/**
 * Folds OpenAI completion stream events into {text, finishReason, usage, done, error}:
 * "data: {json}" chunks with choices[0].text, a usage-only chunk when
 * stream_options.include_usage is set, an {"error": {...}} chunk on failure, then "data: [DONE]".
 */
function createCompletionAccumulator(onText) {
  const acc = { text: '', finishReason: null, usage: null, done: false, error: null };
  acc.onEvent = (ev) => {
    if (ev.data === '[DONE]') { acc.done = true; return; }
    let j;
    try { j = JSON.parse(ev.data); } catch (e) { acc.error = 'bad event from server: ' + ev.data.slice(0, 200); return; }
    if (j.error) { acc.error = j.error.message || JSON.stringify(j.error); return; }
    if (Array.isArray(j.choices) && j.choices.length > 0) {
      const c = j.choices[0];
      if (typeof c.text === 'string' && c.text) {
        acc.text += c.text;
        if (onText) onText(c.text, acc.text);
      }
      if (c.finish_reason) acc.finishReason = c.finish_reason;
    }
    if (j.usage) acc.usage = j.usage;
  };
  return acc;
}

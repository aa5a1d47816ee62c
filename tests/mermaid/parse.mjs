// Parse Mermaid diagrams with Mermaid's own parser (mermaid.parse), for tests/test_ladder.py.
// Input on stdin: a JSON array of diagram texts. Output: a JSON array of
// {"ok": true, "type": "sequence"} or {"ok": false, "error": "..."}, one per diagram.
// mermaid needs a DOM (DOMPurify) even to parse, so jsdom provides one.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!DOCTYPE html><body></body>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let input = "";
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const text of JSON.parse(input)) {
  try {
    const r = await mermaid.parse(text);
    out.push({ ok: true, type: r.diagramType });
  } catch (e) {
    out.push({ ok: false, error: String(e.message || e).split("\n").slice(0, 4).join(" | ") });
  }
}
process.stdout.write(JSON.stringify(out) + "\n");

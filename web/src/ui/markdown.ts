// Chat markdown, for people and the AI alike: paragraphs, headings, lists, quotes, **bold**,
// *italic*, `code`, fenced code, http(s) links and file:line mentions. Built as DOM nodes with
// text nodes only: nothing a participant writes is ever parsed as HTML (a `<img onerror>` in a
// message stays those characters), and a link only ever points at http(s).
import { h } from "./dom.js";

export interface MarkdownHost {
  /** Whether `path` is a file in the room (a mention of it becomes a link). */
  isFile(path: string): boolean;
  /** Open `path` at `line` (1-based). */
  openAt(path: string, line: number): void;
}

// `code`, **bold**, __bold__, *italic*, _italic_, [text](http…), bare http(s) URLs, path:line.
const INLINE =
  /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__|\*(?=[^\s*])([^*]*?[^\s*])\*|(?<![\w])_(?=[^\s_])([^_]*?[^\s_])_(?![\w])|\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])|((?:[\w.-]+\/)*[\w.-]+\.[A-Za-z0-9]+):(\d+)/g;

export function inline(text: string, host: MarkdownHost | null, depth = 0): Node[] {
  const out: Node[] = [];
  let last = 0;
  const add = (s: string) => s && out.push(document.createTextNode(s));
  for (const m of text.matchAll(INLINE)) {
    const at = m.index!;
    let node: Node | null = null;
    if (m[2] !== undefined) node = h("code", {}, m[2]);
    else if (m[3] !== undefined || m[4] !== undefined) node = h("strong", {}, ...(depth < 3 ? inline(m[3] ?? m[4]!, host, depth + 1) : [m[3] ?? m[4]!]));
    else if (m[5] !== undefined || m[6] !== undefined) node = h("em", {}, ...(depth < 3 ? inline(m[5] ?? m[6]!, host, depth + 1) : [m[5] ?? m[6]!]));
    else if (m[7] !== undefined) node = link(m[8]!, m[7]);
    else if (m[9] !== undefined) node = link(m[9], m[9]);
    else if (m[10] !== undefined && host?.isFile(m[10])) node = mention(m[10], Number(m[11]), host);
    if (!node) continue; // a path:line that is no file of the room stays text
    add(text.slice(last, at));
    out.push(node);
    last = at + m[0].length;
  }
  add(text.slice(last));
  return out;
}

function link(href: string, text: string): HTMLElement {
  // The pattern only lets http(s) through; URL() normalizes what the browser will follow.
  return h("a", { href: new URL(href).href, target: "_blank", rel: "noopener noreferrer nofollow" }, text);
}

function mention(path: string, line: number, host: MarkdownHost): HTMLElement {
  const b = h("button", { type: "button", class: "file-ref", "data-path": path, "data-line": line, title: `Open ${path} at line ${line}` }, `${path}:${line}`);
  b.addEventListener("click", () => host.openAt(path, line));
  return b;
}

const LIST = /^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/;
const HEADING = /^(#{1,6})\s+(.*)$/;

/** Prose (no fences: codeblocks.ts splits those off first) as block elements. */
export function blocks(text: string, host: MarkdownHost | null): HTMLElement[] {
  const out: HTMLElement[] = [];
  let para: string[] = [];
  let list: HTMLElement | null = null;
  let quote: string[] = [];
  const flushPara = () => {
    if (!para.length) return;
    const p = h("p", { class: "text" });
    para.forEach((line, i) => {
      if (i) p.append(h("br"));
      p.append(...inline(line, host));
    });
    out.push(p);
    para = [];
  };
  const flushQuote = () => {
    if (!quote.length) return;
    out.push(h("blockquote", {}, ...blocks(quote.join("\n"), host)));
    quote = [];
  };
  const flush = () => {
    flushPara();
    flushQuote();
    list = null;
  };
  for (const line of text.split("\n")) {
    if (/^\s*>/.test(line)) {
      flushPara();
      list = null;
      quote.push(line.replace(/^\s*>\s?/, ""));
      continue;
    }
    flushQuote();
    if (!line.trim()) {
      flush();
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      flush();
      out.push(h("p", { class: "text md-heading" }, h("strong", {}, ...inline(heading[2]!, host))));
      continue;
    }
    const item = LIST.exec(line);
    if (item) {
      flushPara();
      const ordered = item[2] !== undefined;
      const tag = ordered ? "OL" : "UL";
      if (!list || list.tagName !== tag) {
        list = ordered ? h("ol", { class: "md-list", start: item[2] }) : h("ul", { class: "md-list" });
        out.push(list);
      }
      list.append(h("li", {}, ...inline(item[3]!, host)));
      continue;
    }
    if (list && /^\s{2,}\S/.test(line)) {
      list.lastElementChild?.append(" ", ...inline(line.trim(), host));
      continue;
    }
    list = null;
    para.push(line);
  }
  flush();
  return out;
}

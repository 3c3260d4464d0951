// Chat messages: fenced code blocks (```lang) rendered as highlighted <pre> with an "Insert at
// cursor" action; the prose between them as markdown (markdown.ts). Highlighting builds spans
// with text nodes (classHighlighter's tok-* classes), never HTML from the message. A code block
// scrolls sideways rather than being cut, and takes the keyboard focus so it can be scrolled.
import { LanguageSupport } from "@codemirror/language";
import { classHighlighter, highlightCode } from "@lezer/highlight";
import { StyleModule } from "style-mod";
import { languageFor } from "./editor.js";
import { h } from "./dom.js";
import { lineDiff } from "./linediff.js";
import { blocks, type MarkdownHost } from "./markdown.js";

const FENCE = /```([\w+#.-]*)[^\n]*\n([\s\S]*?)(?:```|$)/g;
const ALIASES: Record<string, string> = { python: "py", javascript: "js", typescript: "ts", markdown: "md", shell: "", bash: "", sh: "" };

export type Part = { kind: "text"; text: string } | { kind: "code"; lang: string; code: string };

/** Split a message into prose and fenced code; an unclosed fence (still streaming) counts as code. */
export function splitFences(text: string): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const m of text.matchAll(FENCE)) {
    if (m.index! > last) parts.push({ kind: "text", text: text.slice(last, m.index) });
    parts.push({ kind: "code", lang: m[1]!.toLowerCase(), code: m[2]!.replace(/\n$/, "") });
    last = m.index! + m[0].length;
  }
  if (last < text.length) parts.push({ kind: "text", text: text.slice(last) });
  return parts;
}

function highlighted(code: string, lang: string): HTMLElement {
  const out = h("code", {});
  const ext = ALIASES[lang] ?? lang;
  const support = ext ? languageFor(`x.${ext}`) : [];
  if (!(support instanceof LanguageSupport)) {
    out.textContent = code;
    return out;
  }
  highlightCode(
    code,
    support.language.parser.parse(code),
    classHighlighter,
    (text, classes) => out.append(classes ? h("span", { class: classes }, text) : text),
    () => out.append("\n"),
  );
  return out;
}

/** What a code block in an AI answer can do with the open file. */
export interface CodeActions {
  /** Insert at the cursor (the selection stays). */
  insert(code: string): void;
  /** Replace the selection with the code. */
  replace(code: string): void;
  /** The code a replace would take out: the selection, "" when there is none. */
  selection(): string;
}

export function renderMessage(text: string, actions: CodeActions | null, host: MarkdownHost | null = null): Node[] {
  return splitFences(text).flatMap((part): Node[] => {
    if (part.kind === "text") return blocks(part.text.replace(/^\n+|\n+$/g, ""), host);
    const label = part.lang ? `Code (${part.lang})` : "Code";
    const block = h("div", { class: "codeblock" }, h("pre", { class: "code", tabindex: 0, role: "region", "aria-label": label }, highlighted(part.code, part.lang)));
    if (actions) {
      const button = (text: string, title: string, act: () => void) => {
        const b = h("button", { type: "button", class: "secondary small", title }, text);
        b.addEventListener("mousedown", (e) => e.preventDefault()); // the editor keeps its selection
        b.addEventListener("click", act);
        return b;
      };
      const preview = h("pre", { class: "diff", tabindex: 0, role: "region", "aria-label": "Changes a replace would make", hidden: true });
      const compare = button("Compare", "Show what replacing the selection with this code would change", () => {
        if (!preview.hidden) return void (preview.hidden = true);
        const lines = lineDiff(actions.selection(), part.code);
        preview.replaceChildren(
          ...(lines === null
            ? ["Too long to compare here."]
            : actions.selection() === ""
              ? ["Select the code in the editor that this would replace, then Compare."]
              : lines.map((l) => h("span", { class: `diff-line ${l.op === "+" ? "add" : l.op === "-" ? "del" : "same"}` }, `${l.op} ${l.text}\n`))),
        );
        preview.hidden = false;
      });
      block.append(
        h(
          "div",
          { class: "row code-actions" },
          button("Insert at cursor", "Insert this code at your cursor in the open file", () => actions.insert(part.code)),
          button("Replace selection", "Replace the code selected in the editor with this code", () => actions.replace(part.code)),
          compare,
        ),
        preview,
      );
    }
    return [block];
  });
}

// Colours from the page's CSS variables (app.css), AA contrast in light and dark.
export const codeStyles = new StyleModule({
  ".codeblock": { margin: "4px 0", maxWidth: "100%", minWidth: "0" },
  ".codeblock pre.code, .codeblock pre.diff": { background: "var(--code-bg)", color: "var(--hl-name)", border: "1px solid var(--border)", borderRadius: "4px", padding: "6px", overflow: "auto", maxHeight: "24em", margin: "0", fontSize: "0.85em", whiteSpace: "pre", maxWidth: "100%" },
  ".tok-keyword": { color: "var(--hl-keyword)" },
  ".tok-string, .tok-string2": { color: "var(--hl-string)" },
  ".tok-comment": { color: "var(--hl-comment)", fontStyle: "italic" },
  ".tok-number, .tok-bool, .tok-atom": { color: "var(--hl-constant)" },
  ".tok-variableName.tok-definition, .tok-function": { color: "var(--hl-function)" },
  ".tok-typeName, .tok-className": { color: "var(--hl-constant)" },
  ".tok-propertyName": { color: "var(--hl-property)" },
  ".tok-operator": { color: "var(--hl-operator)" },
  ".msg .ai-status": { fontSize: "0.8em", marginLeft: "4px" },
  ".code-actions": { marginTop: "2px" },
  ".diff-line.add": { background: "var(--diff-add)" },
  ".diff-line.del": { background: "var(--diff-del)" },
});

// One accessible prompt built on <dialog>: focus moves in, Esc cancels, the label names the field.
import { h } from "./dom.js";

/** `keep`: the value is a start to type on (a folder for a new file), so the caret goes after it. */
export function ask(options: { title: string; label: string; value?: string; submit: string; validate?: (v: string) => string | null; keep?: boolean }): Promise<string | null> {
  return new Promise((resolve) => {
    const input = h("input", { id: "dialog-input", name: "value", type: "text", required: true, autocomplete: "off", value: options.value ?? "" });
    const error = h("p", { class: "error", role: "alert", id: "dialog-error" });
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", { id: "dialog-title" }, options.title),
      h("label", { for: "dialog-input" }, options.label),
      input,
      error,
      h("div", { class: "row" }, h("button", { type: "submit" }, options.submit), cancel),
    );
    const dialog = h("dialog", { "aria-labelledby": "dialog-title" }, form);
    const done = (value: string | null) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = input.value.trim();
      const problem = options.validate?.(value) ?? (value ? null : "Please enter a value.");
      if (problem) {
        error.textContent = problem;
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", "dialog-error");
        return;
      }
      done(value);
    });
    cancel.addEventListener("click", () => done(null));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(null);
    });
    document.body.append(dialog);
    dialog.showModal();
    if (options.keep) input.setSelectionRange(input.value.length, input.value.length);
    else input.select();
  });
}

export function confirmAction(title: string, submit: string): Promise<boolean> {
  return new Promise((resolve) => {
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
    const ok = h("button", { type: "submit", class: "danger" }, submit);
    const form = h("form", { method: "dialog" }, h("h2", { id: "dialog-title" }, title), h("div", { class: "row" }, ok, cancel));
    const dialog = h("dialog", { "aria-labelledby": "dialog-title" }, form);
    const done = (value: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      done(true);
    });
    cancel.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

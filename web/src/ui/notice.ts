// The line under the editor that says what just happened, or why an action could not be done.
import { h } from "./dom.js";

export type Say = (message: string) => void;

export class Notice {
  readonly el = h("p", { id: "notice", class: "notice", role: "status" });
  readonly say: Say = (message) => {
    this.el.textContent = message;
  };
}

// Entry point: the hub serves the same bundle for "/" (landing) and "/s/<room>" (session).
import { startLanding } from "./ui/landing.js";
import { showProblem, startSession } from "./ui/session.js";

const root = document.getElementById("app")!;
const run = /\/s\/[^/]+\/?$/.test(location.pathname) ? startSession(root) : startLanding(root);
run.catch((err: unknown) => {
  console.error(err);
  showProblem(root, "Something went wrong", (err as Error)?.message ?? String(err));
});

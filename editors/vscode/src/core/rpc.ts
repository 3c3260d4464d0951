// The bridge (`collab editor`) as a child process, and JSON-RPC requests/notifications over its stdio.
import { spawn, ChildProcess } from "child_process";
import { encode, FrameReader } from "./framing";

export interface RpcError {
  code: number;
  message: string;
}

export class BridgeError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

type Pending = { resolve: (value: any) => void; reject: (error: BridgeError) => void };

export interface BridgeOptions {
  command: string[]; // e.g. ["collab", "editor"]
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** One running bridge. Requests are answered in the order sent (the bridge handles one at a time). */
export class BridgeProcess {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly child: ChildProcess;
  private readonly stderrTail: string[] = [];
  private exited = false;
  readonly exit: Promise<number | null>;

  constructor(options: BridgeOptions, private readonly onNotification: (method: string, params: any) => void) {
    const [program, ...args] = options.command;
    this.child = spawn(program, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
    const reader = new FrameReader((body) => this.dispatch(body));
    this.child.stdout!.on("data", (chunk: Buffer) => reader.feed(chunk));
    this.child.stderr!.on("data", (chunk: Buffer) => {
      this.stderrTail.push(chunk.toString("utf8"));
      if (this.stderrTail.length > 50) this.stderrTail.shift();
    });
    this.exit = new Promise((resolve) => {
      const done = (code: number | null) => {
        if (this.exited) return;
        this.exited = true;
        for (const waiting of this.pending.values()) waiting.reject(new BridgeError(-32099, `the bridge exited: ${this.stderr()}`));
        this.pending.clear();
        resolve(code);
      };
      this.child.on("exit", done);
      this.child.on("error", (error) => {
        this.stderrTail.push(`cannot start ${options.command.join(" ")}: ${error.message}`);
        done(null);
      });
    });
  }

  stderr(): string {
    return this.stderrTail.join("").trim().split("\n").slice(-5).join(" | ");
  }

  get running(): boolean {
    return !this.exited;
  }

  request<T = any>(method: string, params: object = {}): Promise<T> {
    if (this.exited) return Promise.reject(new BridgeError(-32099, "the bridge is not running"));
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(encode({ jsonrpc: "2.0", id, method, params }));
    });
  }

  /** Raw bytes to the bridge (tests of its error handling). */
  writeRaw(data: Buffer | string): void {
    this.child.stdin!.write(data);
  }

  private dispatch(body: string): void {
    let message: any;
    try {
      message = JSON.parse(body);
    } catch {
      return;
    }
    if (typeof message !== "object" || message === null) return;
    if (typeof message.method === "string") {
      this.onNotification(message.method, message.params ?? {});
      return;
    }
    if (typeof message.id !== "number") return;
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    if (message.error) waiting.reject(new BridgeError(message.error.code, message.error.message));
    else waiting.resolve(message.result);
  }

  /** Ends the bridge: `shutdown` (it leaves the session after sending pending edits), then stdin closed. */
  async stop(timeoutMs = 10000): Promise<void> {
    if (this.exited) return;
    const timer = new Promise((resolve) => setTimeout(resolve, timeoutMs));
    await Promise.race([this.request("shutdown").catch(() => undefined), timer]);
    this.child.stdin!.end();
    const killed = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    await this.exit;
    clearTimeout(killed);
  }
}

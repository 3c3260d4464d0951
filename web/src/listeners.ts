// A small listener registry: the transports, the local copy and the page's panels say "changed" with it.
export class Listeners<A extends unknown[]> {
  private fns: ((...args: A) => void)[] = [];
  add(fn: (...args: A) => void): void {
    this.fns.push(fn);
  }
  emit(...args: A): void {
    for (const fn of this.fns) fn(...args);
  }
}

// Which sequence numbers of one log have been seen: everything up to `upto`, plus some above it.
// The same as collab/watermark.py (upto / ahead / has / saw / advance / gap).
export class Watermark {
  upto = 0; // no hole at or below this
  readonly ahead = new Set<number>(); // seen, above a hole

  has(seq: number): boolean {
    return seq <= this.upto || this.ahead.has(seq);
  }

  saw(seq: number): void {
    if (seq <= this.upto) return;
    this.ahead.add(seq);
    this.closeUp();
  }

  /** Everything up to `seq` is covered (a snapshot). */
  advance(seq: number): void {
    if (seq <= this.upto) return;
    this.upto = seq;
    for (const s of this.ahead) if (s <= seq) this.ahead.delete(s);
    this.closeUp();
  }

  /** Something above a hole was seen: the hole's entries are missing. */
  get gap(): boolean {
    return this.ahead.size > 0;
  }

  get highest(): number {
    let top = this.upto;
    for (const s of this.ahead) top = Math.max(top, s);
    return top;
  }

  private closeUp(): void {
    while (this.ahead.has(this.upto + 1)) {
      this.upto++;
      this.ahead.delete(this.upto);
    }
  }
}

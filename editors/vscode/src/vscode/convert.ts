// The protocol's positions are UTF-16 like VS Code's: conversion is a change of class, not of units.
import * as vscode from "vscode";
import { Change, Position, Range } from "../core/text";

export const SCHEME = "collab";

export const toVsPosition = (p: Position) => new vscode.Position(p.line, p.character);
export const toVsRange = (r: Range) => new vscode.Range(toVsPosition(r.start), toVsPosition(r.end));
export const fromVsPosition = (p: vscode.Position): Position => ({ line: p.line, character: p.character });

export function uriOf(path: string): vscode.Uri {
  return vscode.Uri.from({ scheme: SCHEME, path: "/" + path });
}

export function pathOf(uri: vscode.Uri): string {
  return uri.path.replace(/^\/+/, "");
}

/** A change event's changes, in an order that can be applied one after another (each against the text
 *  the previous ones left): VS Code's refer to the text before the event, so back to front. */
export function changesOf(event: vscode.TextDocumentChangeEvent): Change[] {
  return [...event.contentChanges]
    .sort((a, b) => b.rangeOffset - a.rangeOffset)
    .map((c) => ({ range: { start: fromVsPosition(c.range.start), end: fromVsPosition(c.range.end) }, text: c.text }));
}

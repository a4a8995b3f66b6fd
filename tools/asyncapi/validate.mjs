// Validate an AsyncAPI document with the official parser (@asyncapi/parser, pinned in
// package.json and package-lock.json; installed with `npm ci`, see the Makefile).
// Usage: node validate.mjs FILE   (or - for standard input)
// Prints every diagnostic; exits 1 when the document does not parse or any
// diagnostic is an error or a warning, 0 otherwise.
import { readFileSync } from "node:fs";
import { DiagnosticSeverity, Parser } from "@asyncapi/parser";

const source = process.argv[2];
if (!source) {
  console.error("usage: node validate.mjs FILE (or - for standard input)");
  process.exit(2);
}
const text = readFileSync(source === "-" ? 0 : source, "utf8");
const { document, diagnostics } = await new Parser().parse(text);
const names = { 0: "error", 1: "warning", 2: "information", 3: "hint" };
for (const d of diagnostics) {
  const where = (d.path || []).join(".") || "(document)";
  console.log(`${names[d.severity] ?? d.severity} ${d.code} at ${where}: ${d.message}`);
}
const failing = diagnostics.filter(
  (d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning,
);
if (!document || failing.length) {
  console.error(`invalid: ${failing.length} errors or warnings in ${source}`);
  process.exit(1);
}
console.log(
  `valid AsyncAPI ${document.version()}: ${document.channels().length} channels, ` +
    `${document.operations().length} operations, ${document.messages().length} messages`,
);

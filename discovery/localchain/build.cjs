// Rebuilds build.json from contracts/*.sol with the npm `solc` compiler (solc-js, offline once installed).
// Run through `make contracts`; the artifact is committed so tests and the demo need no compiler.
"use strict";
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const solc = require("solc");

const here = __dirname;
const dir = path.join(here, "contracts");
const sources = {};
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[f] = { content: fs.readFileSync(path.join(dir, f), "utf8") };
}
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "shanghai",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
};
const out = JSON.parse(solc.compile(JSON.stringify({ language: "Solidity", sources, settings })));
const errors = (out.errors || []).filter((e) => e.severity === "error");
for (const e of out.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

const artifact = { compiler: "solc-js " + solc.version(), settings, sources: {}, contracts: {} };
for (const [f, s] of Object.entries(sources)) {
  artifact.sources[f] = { sha256: crypto.createHash("sha256").update(s.content, "utf8").digest("hex") };
  for (const [name, c] of Object.entries(out.contracts[f])) {
    artifact.contracts[name] = { source: f, abi: c.abi, bytecode: "0x" + c.evm.bytecode.object };
  }
}
fs.writeFileSync(path.join(here, "build.json"), JSON.stringify(artifact, null, 1) + "\n");
console.log("wrote " + path.join(here, "build.json") + " (" + Object.keys(artifact.contracts).join(", ") + ")");

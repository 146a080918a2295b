// Bundles the unchanged browser SDKs into self-contained IIFE files under dist/, for the Playwright tests.
// One file per SDK, no code splitting: the page loads one <script> and never reaches for a CDN.
import { build } from "esbuild";

const targets = {
  "rudder-analytics.js": "browser/rudder-entry.mjs",
  "segment-analytics.js": "browser/segment-entry.mjs",
};

for (const [out, entry] of Object.entries(targets)) {
  await build({
    entryPoints: [entry],
    outfile: `dist/${out}`,
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "es2020",
    minify: false,
    logLevel: "warning",
  });
  console.log(`built dist/${out}`);
}

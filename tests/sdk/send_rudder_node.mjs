// Sends events with the unchanged @rudderstack/rudder-sdk-node and prints what went over the wire.
//
// usage: node send_rudder_node.mjs URL WRITE_KEY CALLS_JSON
//   CALLS_JSON: [["track", {userId, event, properties, ...}], ["identify", {...}], ...]
// prints one JSON line: {"messageIds": [...], "requests": [{"gzip": bool, "body": {...}}], "errors": [...]}
// and exits 1 when the SDK reported an error for any call.
import { gunzipSync } from "node:zlib";
import Analytics from "@rudderstack/rudder-sdk-node";

const [url, writeKey, callsJson] = process.argv.slice(2);
if (!url || !writeKey || !callsJson) {
  console.error("usage: node send_rudder_node.mjs URL WRITE_KEY CALLS_JSON");
  process.exit(2);
}
const calls = JSON.parse(callsJson);

// flushAt above the call count: the SDK sends the first event at once and the rest as one batch on flush().
// errorHandler keeps a refused batch from becoming an unhandled rejection; the callbacks still get the error.
const client = new Analytics(writeKey, {
  dataPlaneUrl: url,
  flushAt: 100,
  flushInterval: 60000,
  retryCount: 0,
  logLevel: "error",
  errorHandler: () => {},
});

// The done-callback receives the request body exactly as posted (a gzip Buffer when gzip is on), so the
// messageIds printed are the ones the SDK generated and sent, not ones we made up.
const requests = new Map();
const errors = [];
const pending = calls.map(
  ([method, message]) =>
    new Promise((resolve) => {
      client[method](message, (err, data) => {
        if (err) errors.push(String(err.message || err));
        if (data !== undefined && !requests.has(data)) requests.set(data, data);
        resolve();
      });
    }),
);
await client.flush();
await Promise.all(pending);

const decoded = [...requests.keys()].map((data) =>
  Buffer.isBuffer(data)
    ? { gzip: true, body: JSON.parse(gunzipSync(data).toString("utf8")) }
    : { gzip: false, body: JSON.parse(JSON.stringify(data)) },
);
const messageIds = decoded.flatMap((r) => r.body.batch.map((e) => e.messageId));
console.log(JSON.stringify({ messageIds, requests: decoded, errors }));
process.exit(errors.length ? 1 : 0);

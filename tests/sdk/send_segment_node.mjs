// Sends events with the unchanged @segment/analytics-node and prints what went over the wire.
//
// usage: node send_segment_node.mjs URL WRITE_KEY CALLS_JSON
//   CALLS_JSON: [["track", {userId, event, properties, ...}], ["identify", {...}], ...]
// prints one JSON line: {"messageIds": [...], "requests": [{"url", "headers", "body"}], "errors": [...]}
// and exits 1 when the SDK reported an error for any call.
import { Analytics } from "@segment/analytics-node";

const [url, writeKey, callsJson] = process.argv.slice(2);
if (!url || !writeKey || !callsJson) {
  console.error("usage: node send_segment_node.mjs URL WRITE_KEY CALLS_JSON");
  process.exit(2);
}
const calls = JSON.parse(callsJson);

const analytics = new Analytics({ writeKey, host: url, maxRetries: 0, flushInterval: 60000, flushAt: 100 });

// The SDK announces each request it makes; its body is the exact string posted.
const requests = [];
analytics.on("http_request", (req) => requests.push({ url: req.url, headers: req.headers, body: JSON.parse(req.body) }));

const errors = [];
const messageIds = [];
const pending = calls.map(
  ([method, message]) =>
    new Promise((resolve) => {
      analytics[method](message, (err, ctx) => {
        if (err) errors.push(String(err.reason?.message || err.message || err));
        if (ctx) messageIds.push(ctx.event.messageId);
        resolve();
      });
    }),
);
await analytics.closeAndFlush();
await Promise.all(pending);
console.log(JSON.stringify({ messageIds, requests, errors }));
process.exit(errors.length ? 1 : 0);

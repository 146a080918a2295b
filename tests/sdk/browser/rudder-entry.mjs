// The npm "bundled" export carries its plugins (XhrQueue, BeaconQueue…) inside it, so nothing is fetched from a CDN.
import { RudderAnalytics } from "@rudderstack/analytics-js/bundled";

window.RudderAnalytics = RudderAnalytics;

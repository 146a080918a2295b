// analytics-next from npm: its lazy chunks are bundled by esbuild instead of being loaded from Segment's CDN.
import { AnalyticsBrowser } from "@segment/analytics-next";

window.AnalyticsBrowser = AnalyticsBrowser;

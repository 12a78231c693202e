// Soak: a modest rate for a long time. Proves Herald stays stable: no errors,
// latency at the end like at the start, no steady growth of memory or
// goroutines (compared from /metrics before and after).
//
//   LOAD_RATE       requests per second (default 10; each carries LOAD_ALERTS alerts)
//   LOAD_DURATION   how long (default 30m)
//   LOAD_P95_MS     p95 latency threshold in ms, for the first and last 10% (default 500)

import exec from 'k6/execution';
import { sendWebhook, checkReachable, heraldStats, summaryTrendStats, envInt, envStr, vusFor, seconds } from './lib/webhook.js';

const RATE = envInt('LOAD_RATE', 10);
const DURATION = envStr('LOAD_DURATION', '30m');
const P95 = envInt('LOAD_P95_MS', 500);
const TOTAL = seconds(DURATION);

export const options = {
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: vusFor(RATE, 0.5),
      maxVUs: vusFor(RATE, 4),
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    checks: ['rate>0.999'],
    // The same bound at the start and at the end: latency must not creep up.
    'http_req_duration{window:first10pct}': [`p(95)<${P95}`],
    'http_req_duration{window:last10pct}': [`p(95)<${P95}`],
    dropped_iterations: [`count<${Math.max(1, Math.ceil(RATE * 0.01))}`],
  },
  summaryTrendStats,
};

export function setup() {
  checkReachable();
  return { before: heraldStats(), startedAt: Date.now() };
}

export default function () {
  const elapsed = (Date.now() - exec.scenario.startTime) / 1000;
  let window = 'middle';
  if (elapsed < TOTAL * 0.1) window = 'first10pct';
  else if (elapsed >= TOTAL * 0.9) window = 'last10pct';
  sendWebhook({ window });
}

export function teardown(data) {
  const after = heraldStats();
  const hours = (Date.now() - data.startedAt) / 3600000;
  const b = data.before;
  const growth = (x, y) => (x === null || y === null ? '?' : ((y - x) / Math.max(hours, 1e-9)).toFixed(1));
  console.log(`herald after ${(hours * 60).toFixed(1)} min: goroutines ${b.goroutines} -> ${after.goroutines} ` +
    `(${growth(b.goroutines, after.goroutines)}/h), rss ${(b.rssBytes / 1048576).toFixed(1)} -> ` +
    `${(after.rssBytes / 1048576).toFixed(1)} MiB (${growth(b.rssBytes / 1048576, after.rssBytes / 1048576)} MiB/h)`);
}

// Steady state: a constant arrival rate of webhooks for a while. Proves the
// webhook keeps its latency and accepts every alert at a sustained rate.
//
//   LOAD_RATE       webhook requests per second (default 50; each carries LOAD_ALERTS alerts)
//   LOAD_DURATION   how long (default 2m)
//   LOAD_P95_MS     p95 latency threshold in ms (default 500)
//   LOAD_P99_MS     p99 latency threshold in ms (default 1500)

import { sendWebhook, checkReachable, heraldStats, summaryTrendStats, envInt, envStr, vusFor } from './lib/webhook.js';

const RATE = envInt('LOAD_RATE', 50);
const DURATION = envStr('LOAD_DURATION', '2m');

export const options = {
  scenarios: {
    steady_state: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: vusFor(RATE, 0.5),
      maxVUs: vusFor(RATE, 4),
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{name:POST /webhook}': [
      `p(95)<${envInt('LOAD_P95_MS', 500)}`,
      `p(99)<${envInt('LOAD_P99_MS', 1500)}`,
    ],
    checks: ['rate>0.99'],
    // The arrival rate was held: k6 did not have to skip iterations.
    dropped_iterations: [`count<${Math.max(1, Math.ceil(RATE * 0.01))}`],
  },
  summaryTrendStats,
};

export function setup() {
  checkReachable();
  return { before: heraldStats() };
}

export default function () {
  sendWebhook();
}

export function teardown(data) {
  const after = heraldStats();
  console.log(`herald: goroutines ${data.before.goroutines} -> ${after.goroutines}, ` +
    `rss ${mb(data.before.rssBytes)} -> ${mb(after.rssBytes)} MiB, ` +
    `alerts received +${after.alertsReceived - data.before.alertsReceived}`);
}

function mb(b) {
  return b === null ? '?' : (b / 1048576).toFixed(1);
}

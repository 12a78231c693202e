// Stress: raise the arrival rate step by step until Herald (or the Temporal
// cluster behind it) cannot keep up, to find the breaking point. Thresholds
// are reported per step and never abort the run: read the summary to see the
// last step that still met them.
//
//   LOAD_START_RATE   first step in requests per second (default 25)
//   LOAD_STEPS        number of steps; each doubles the rate (default 6: 25..800)
//   LOAD_STEP         duration of each step (default 1m)
//   LOAD_P95_MS       p95 latency considered healthy, in ms (default 500)

import exec from 'k6/execution';
import { sendWebhook, checkReachable, heraldStats, summaryTrendStats, envInt, envStr, vusFor, seconds } from './lib/webhook.js';

const START = envInt('LOAD_START_RATE', 25);
const STEPS = Math.max(1, envInt('LOAD_STEPS', 6));
const STEP = envStr('LOAD_STEP', '1m');
const P95 = envInt('LOAD_P95_MS', 500);
const RAMP = '10s';

const rates = Array.from({ length: STEPS }, (_, i) => START * 2 ** i);
const stages = [];
for (const r of rates) {
  stages.push({ target: r, duration: RAMP });
  stages.push({ target: r, duration: STEP });
}
stages.push({ target: 0, duration: RAMP });

const thresholds = {};
rates.forEach((r, i) => {
  const tag = `{step:${i + 1}}`;
  thresholds[`http_req_duration${tag}`] = [{ threshold: `p(95)<${P95}`, abortOnFail: false }];
  thresholds[`http_req_failed${tag}`] = [{ threshold: 'rate<0.01', abortOnFail: false }];
});

export const options = {
  scenarios: {
    stress: {
      executor: 'ramping-arrival-rate',
      startRate: START,
      timeUnit: '1s',
      preAllocatedVUs: vusFor(START, 1),
      maxVUs: vusFor(rates[rates.length - 1], 3),
      stages,
    },
  },
  thresholds,
  summaryTrendStats,
};

const stepSeconds = seconds(RAMP) + seconds(STEP);

export function setup() {
  checkReachable();
  console.log(`stress steps (req/s): ${rates.join(', ')}; ${STEP} each`);
  return { before: heraldStats() };
}

export default function () {
  const elapsed = (Date.now() - exec.scenario.startTime) / 1000;
  const step = Math.min(STEPS, Math.floor(elapsed / stepSeconds) + 1);
  sendWebhook({ step: String(step) });
}

export function teardown(data) {
  const after = heraldStats();
  console.log(`herald: goroutines ${data.before.goroutines} -> ${after.goroutines}, ` +
    `rss ${(data.before.rssBytes / 1048576).toFixed(1)} -> ${(after.rssBytes / 1048576).toFixed(1)} MiB`);
}

// Spike: a quiet baseline, a sudden burst far above it, then back to the
// baseline. Proves Herald absorbs a burst (an alert storm after an outage)
// without errors and recovers its latency afterwards.
//
//   LOAD_BASE_RATE   baseline requests per second (default 10)
//   LOAD_PEAK_RATE   peak requests per second (default 200)
//   LOAD_RAMP        time to reach the peak (default 10s)
//   LOAD_HOLD        time at the peak (default 1m)
//   LOAD_RECOVER     time back at the baseline after the spike (default 1m)
//   LOAD_P99_MS      p99 latency threshold over the whole run, in ms (default 3000)

import exec from 'k6/execution';
import { sendWebhook, checkReachable, summaryTrendStats, envInt, envStr, vusFor, seconds } from './lib/webhook.js';

const BASE = envInt('LOAD_BASE_RATE', 10);
const PEAK = envInt('LOAD_PEAK_RATE', 200);
const RAMP = envStr('LOAD_RAMP', '10s');
const HOLD = envStr('LOAD_HOLD', '1m');
const RECOVER = envStr('LOAD_RECOVER', '1m');

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: BASE,
      timeUnit: '1s',
      preAllocatedVUs: vusFor(PEAK, 0.5),
      maxVUs: vusFor(PEAK, 5),
      stages: [
        { target: BASE, duration: '30s' }, // baseline
        { target: PEAK, duration: RAMP }, // the spike
        { target: PEAK, duration: HOLD },
        { target: BASE, duration: RAMP }, // back down
        { target: BASE, duration: RECOVER }, // recovery
      ],
    },
  },
  thresholds: {
    // No alert may be refused during the spike.
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
    'http_req_duration{name:POST /webhook}': [`p(99)<${envInt('LOAD_P99_MS', 3000)}`],
    // Latency after the spike is back near the baseline's.
    'http_req_duration{phase:recovery}': [`p(95)<${envInt('LOAD_RECOVERY_P95_MS', 500)}`],
    'http_req_duration{phase:peak}': [`p(95)<${envInt('LOAD_PEAK_P95_MS', 2000)}`],
  },
  summaryTrendStats,
};

// Phase boundaries in seconds since the scenario started.
const T = (() => {
  const ramp = seconds(RAMP);
  const hold = seconds(HOLD);
  return { peakStart: 30, peakEnd: 30 + ramp + hold, recoveryStart: 30 + 2 * ramp + hold };
})();

export function setup() {
  checkReachable();
}

export default function () {
  const elapsed = (Date.now() - exec.scenario.startTime) / 1000;
  let phase = 'baseline';
  if (elapsed >= T.recoveryStart) phase = 'recovery';
  else if (elapsed >= T.peakStart && elapsed < T.peakEnd) phase = 'peak';
  else if (elapsed >= T.peakEnd) phase = 'ramp_down';
  sendWebhook({ phase });
}

// Shared helpers of Herald's k6 load tests: Alertmanager v4 webhook payloads,
// the POST /webhook request and its checks, and environment-driven settings.
//
// Environment:
//   HERALD_URL             base URL of Herald (default http://127.0.0.1:8080)
//   HERALD_WEBHOOK_TOKEN   sent as "Authorization: Bearer <token>" when set
//   LOAD_ALERTS              alerts per webhook request (default 10)
//   LOAD_RESOLVED_RATIO      share of alerts sent as "resolved" (default 0.2)

import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';

export const BASE_URL = (__ENV.HERALD_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const WEBHOOK_URL = `${BASE_URL}/webhook`;
const TOKEN = __ENV.HERALD_WEBHOOK_TOKEN || '';

export const ALERTS_PER_REQUEST = envInt('LOAD_ALERTS', 10);
export const RESOLVED_RATIO = envFloat('LOAD_RESOLVED_RATIO', 0.2);

// Trend statistics shown in the end-of-test summary.
export const summaryTrendStats = ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'];

// Alerts handed to Herald (counted from the accepted answers).
export const alertsAccepted = new Counter('herald_alerts_accepted');

// A short, per-VU prefix that keeps fingerprints of different test runs apart.
// Fingerprints must be 1-64 letters and digits.
const RUN = (__ENV.LOAD_RUN_ID || Date.now().toString(36)).replace(/[^A-Za-z0-9]/g, '').slice(0, 16);

const NAMES = ['DiskFull', 'HighLatency', 'PodCrashLooping', 'CertificateExpiry', 'ErrorBudgetBurn'];
const SEVERITIES = ['critical', 'warning', 'warning', 'info'];
const TEAMS = ['payments', 'checkout', 'platform'];

// Fingerprints this VU sent as firing in its previous request: resolved alerts
// resolve some of them, so the resolve path hits existing workflows.
let previouslyFiring = [];

export function envInt(name, def) {
  const v = __ENV[name];
  if (v === undefined || v === '') return def;
  const n = parseInt(v, 10);
  if (isNaN(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${v}"`);
  return n;
}

export function envFloat(name, def) {
  const v = __ENV[name];
  if (v === undefined || v === '') return def;
  const n = parseFloat(v);
  if (isNaN(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${v}"`);
  return n;
}

export function envStr(name, def) {
  const v = __ENV[name];
  return v === undefined || v === '' ? def : v;
}

// seconds parses the simple k6 durations used here (1h2m3s, 90s, 500ms).
export function seconds(d) {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let m;
  while ((m = re.exec(d)) !== null) {
    const v = parseFloat(m[1]);
    total += m[2] === 'h' ? v * 3600 : m[2] === 'm' ? v * 60 : m[2] === 's' ? v : v / 1000;
  }
  return total;
}

// How many VUs to keep ready for an arrival rate, assuming requests take up
// to maxSeconds: k6 needs rate * latency VUs to hold the rate.
export function vusFor(rate, maxSeconds = 2) {
  return Math.max(5, Math.ceil(rate * maxSeconds));
}

// hash makes an alert's labels a function of its fingerprint, so a resolved
// alert carries the same labels as when it fired.
function hash(s) {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h;
}

function pick(list, n) {
  return list[n % list.length];
}

// fingerprint returns a fingerprint unique to this run, VU, iteration and alert.
export function fingerprint(i) {
  const vu = exec.vu.idInTest.toString(36);
  const iter = exec.vu.iterationInScenario.toString(36);
  return `${RUN}v${vu}i${iter}a${i}`;
}

// buildWebhook returns an Alertmanager version 4 webhook body with `count`
// alerts. New alerts are firing with fresh fingerprints (each starts its own
// alert workflow); about RESOLVED_RATIO of them resolve alerts this VU fired
// in its previous request.
export function buildWebhook(count = ALERTS_PER_REQUEST) {
  const now = new Date();
  const startsAt = new Date(now.getTime() - 60 * 1000).toISOString();
  const resolvedWanted = Math.round(count * RESOLVED_RATIO);
  const alerts = [];
  const firing = [];
  for (let i = 0; i < count; i++) {
    const resolving = i < resolvedWanted && previouslyFiring.length > 0;
    const fp = resolving ? previouslyFiring.pop() : fingerprint(i);
    const n = hash(fp);
    const labels = {
      alertname: pick(NAMES, n),
      severity: pick(SEVERITIES, n),
      team: pick(TEAMS, n),
      instance: `node-${n % 50}:9100`,
      job: 'k6-load',
      load_test: 'true',
    };
    alerts.push({
      status: resolving ? 'resolved' : 'firing',
      labels,
      annotations: {
        summary: `${labels.alertname} on ${labels.instance} (load test)`,
        description: 'Synthetic alert sent by a Herald k6 load test.',
      },
      startsAt,
      endsAt: resolving ? now.toISOString() : '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.example:9090/graph?g0.expr=up',
      fingerprint: fp,
    });
    if (!resolving) firing.push(fp);
  }
  previouslyFiring = firing;
  const anyFiring = alerts.some((a) => a.status === 'firing');
  return {
    version: '4',
    groupKey: `{}:{job="k6-load",vu="${exec.vu.idInTest}"}`,
    truncatedAlerts: 0,
    status: anyFiring ? 'firing' : 'resolved',
    receiver: 'herald',
    groupLabels: { job: 'k6-load' },
    commonLabels: { job: 'k6-load', load_test: 'true' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example:9093',
    alerts,
  };
}

// sendWebhook posts one webhook and checks that Herald accepted every alert.
// extraTags are added to the request's metrics (e.g. a stage for thresholds).
export function sendWebhook(extraTags = {}) {
  const body = buildWebhook();
  const headers = { 'Content-Type': 'application/json' };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  const res = http.post(WEBHOOK_URL, JSON.stringify(body), {
    headers,
    timeout: '30s',
    tags: Object.assign({ name: 'POST /webhook' }, extraTags),
  });
  let accepted = 0;
  const ok = check(res, {
    'status is 200': (r) => r.status === 200,
    'every alert accepted': (r) => {
      if (r.status !== 200) return false;
      try {
        accepted = r.json('accepted');
      } catch (e) {
        return false;
      }
      return accepted === body.alerts.length;
    },
  }, extraTags);
  if (accepted > 0) alertsAccepted.add(accepted, extraTags);
  if (!ok && res.status !== 200 && exec.vu.iterationInScenario % 100 === 0) {
    // Log a sample of failures, not every one.
    console.warn(`webhook answered ${res.status}: ${String(res.body).slice(0, 200)}`);
  }
  return res;
}

// heraldStats reads a few gauges and counters from Herald's /metrics, to
// compare the process before and after a run. Missing values are null.
export function heraldStats() {
  const res = http.get(`${BASE_URL}/metrics`, { tags: { name: 'GET /metrics' }, timeout: '10s' });
  const out = { goroutines: null, rssBytes: null, webhookRequests: null, alertsReceived: null };
  if (res.status !== 200) return out;
  let webhook = 0;
  let received = 0;
  for (const line of String(res.body).split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const sp = line.lastIndexOf(' ');
    const name = line.slice(0, sp);
    const value = parseFloat(line.slice(sp + 1));
    if (name === 'go_goroutines') out.goroutines = value;
    else if (name === 'process_resident_memory_bytes') out.rssBytes = value;
    else if (name.startsWith('herald_webhook_requests_total{')) webhook += value;
    else if (name.startsWith('herald_alerts_received_total{')) received += value;
  }
  out.webhookRequests = webhook;
  out.alertsReceived = received;
  return out;
}

// checkReachable fails fast in setup() when Herald is not answering.
export function checkReachable() {
  const res = http.get(`${BASE_URL}/readyz`, { tags: { name: 'GET /readyz' }, timeout: '10s' });
  if (res.status !== 200) {
    throw new Error(`Herald at ${BASE_URL} is not ready (GET /readyz answered ${res.status}): start it first`);
  }
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish/alertmanager"
)

func benchLabels(phase, id string) map[string]string {
	return map[string]string{
		"alertname": benchAlertName, labelID: id, labelPhase: phase,
		"severity": alert.SeverityWarning, "job": "bench-e2e",
	}
}

func benchAnnotations(sent time.Time) map[string]string {
	return map[string]string{annotationSent: strconv.FormatInt(sent.UnixNano(), 10), "summary": "bench-e2e load alert"}
}

func phaseIDs(phase string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", phase, i)
	}
	return ids
}

// postJSON posts body and returns the status code; non-2xx is an error.
func postJSON(ctx context.Context, c *http.Client, url string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("POST %s: HTTP %d: %s", url, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return resp.StatusCode, nil
}

// sendResult is what the load generator saw.
type sendResult struct {
	sent     int
	errors   int
	firstErr error
	maxLag   time.Duration // how far the generator fell behind its schedule
	took     time.Duration
}

// generate posts one new alert per request to Alertmanager at a constant
// arrival rate: request i starts at start + i/rate, whatever the answers of
// earlier requests (up to maxInFlight outstanding).
func generate(ctx context.Context, c *http.Client, amURL, phase string, ids []string, rate int) sendResult {
	const maxInFlight = 512
	interval := time.Second / time.Duration(rate)
	sem := make(chan struct{}, maxInFlight)
	var (
		wg       sync.WaitGroup
		errs     atomic.Int64
		errOnce  sync.Once
		firstErr error
		res      sendResult
	)
	start := time.Now()
	for i, id := range ids {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
				wg.Wait()
				res.took = time.Since(start)
				return res
			case <-time.After(d):
			}
		} else {
			res.maxLag = max(res.maxLag, -d)
		}
		sem <- struct{}{}
		wg.Add(1)
		res.sent++
		go func() {
			defer func() { <-sem; wg.Done() }()
			now := time.Now()
			body, _ := json.Marshal([]alertmanager.PostableAlert{{
				Labels: benchLabels(phase, id), Annotations: benchAnnotations(now),
				StartsAt: now, EndsAt: now.Add(24 * time.Hour),
			}})
			if _, err := postJSON(ctx, c, amURL+"/api/v2/alerts", body); err != nil {
				errs.Add(1)
				errOnce.Do(func() { firstErr = err })
			}
		}()
	}
	wg.Wait()
	res.took = time.Since(start)
	res.errors, res.firstErr = int(errs.Load()), firstErr
	return res
}

// webhookBody builds an Alertmanager version 4 webhook of firing alerts,
// one per id, each with its own fingerprint.
func webhookBody(phase string, ids []string, sent time.Time) []byte {
	w := alert.Webhook{
		Version: alert.SupportedWebhookVersion, Status: alert.StatusFiring, Receiver: "bench-e2e",
		GroupKey: "{}:{bench_phase=\"" + phase + "\"}", GroupLabels: map[string]string{labelPhase: phase},
	}
	for _, id := range ids {
		w.Alerts = append(w.Alerts, alert.WebhookAlert{
			Status: alert.StatusFiring, Labels: benchLabels(phase, id), Annotations: benchAnnotations(sent),
			StartsAt: sent, Fingerprint: alert.Fingerprint(benchLabels(phase, id)),
		})
	}
	b, _ := json.Marshal(w)
	return b
}

// postWebhook posts a webhook straight to Herald, retrying refusals (as
// Alertmanager would) until accepted or ctx ends; every attempt is logged
// as an acknowledgement of the phase.
func postWebhook(ctx context.Context, c *http.Client, url, phase string, body []byte, acks *ackLog) error {
	for {
		start := time.Now()
		status, err := postJSON(ctx, c, url, body)
		acks.add(ack{phase: phase, took: time.Since(start), status: status})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

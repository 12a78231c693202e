package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// SupportedWebhookVersion is the Alertmanager webhook payload version Herald accepts.
const SupportedWebhookVersion = "4"

var fingerprintPattern = regexp.MustCompile(`^[0-9A-Za-z]{1,64}$`)

// ValidationError is a problem with a webhook payload; it is the caller's
// fault and maps to HTTP 400.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

func invalid(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

// IsValidationError reports whether err is (or wraps) a ValidationError.
func IsValidationError(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

// ParseWebhook decodes and validates an Alertmanager webhook body.
func ParseWebhook(body []byte) (Webhook, error) {
	var w Webhook
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&w); err != nil {
		return Webhook{}, invalid("malformed JSON: %v", err)
	}
	if dec.More() {
		return Webhook{}, invalid("malformed JSON: trailing data after the webhook object")
	}
	if err := w.Validate(); err != nil {
		return Webhook{}, err
	}
	return w, nil
}

// Validate checks that w is an Alertmanager version 4 webhook with usable alerts.
func (w Webhook) Validate() error {
	if w.Version == "" {
		return invalid(`not an Alertmanager webhook: "version" is missing (want %q)`, SupportedWebhookVersion)
	}
	if w.Version != SupportedWebhookVersion {
		return invalid("unsupported webhook version %q (want %q)", w.Version, SupportedWebhookVersion)
	}
	if len(w.Alerts) == 0 {
		return invalid(`webhook has no alerts`)
	}
	for i, a := range w.Alerts {
		if a.Status != StatusFiring && a.Status != StatusResolved {
			return invalid("alerts[%d]: status %q is neither %q nor %q", i, a.Status, StatusFiring, StatusResolved)
		}
		if len(a.Labels) == 0 {
			return invalid("alerts[%d]: labels are empty", i)
		}
		if a.Fingerprint != "" && !fingerprintPattern.MatchString(a.Fingerprint) {
			return invalid("alerts[%d]: fingerprint %q is not 1-64 letters and digits", i, a.Fingerprint)
		}
	}
	return nil
}

// AlertList returns the webhook's alerts in Herald's model, with fingerprints
// filled in from the labels where the webhook had none.
func (w Webhook) AlertList() []Alert {
	out := make([]Alert, 0, len(w.Alerts))
	for _, a := range w.Alerts {
		fp := a.Fingerprint
		if fp == "" {
			fp = Fingerprint(a.Labels)
		}
		out = append(out, Alert{
			Fingerprint:  fp,
			Status:       a.Status,
			Labels:       a.Labels,
			Annotations:  a.Annotations,
			StartsAt:     a.StartsAt,
			EndsAt:       a.EndsAt,
			GeneratorURL: a.GeneratorURL,
			Receiver:     w.Receiver,
			GroupKey:     w.GroupKey,
			ExternalURL:  w.ExternalURL,
		})
	}
	return out
}

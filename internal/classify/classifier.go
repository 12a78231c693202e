package classify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
)

// DefaultMinConfidence is the lowest LLM confidence Herald accepts when
// Classifier.MinConfidence is zero.
const DefaultMinConfidence = 0.6

// Classifier combines the rules, an optional LLM and the severity label:
//
//  1. the first matching rule wins (operators' rules are never overridden);
//  2. else, with an LLM configured, its answer when it arrives in time, is
//     valid and is at least MinConfidence sure;
//  3. else the severity label (warning when absent).
//
// When the LLM is not used, the Reason says why ("llm timeout; labels: ...").
// A nil or zero Classifier classifies by labels only. It is safe for
// concurrent use.
type Classifier struct {
	Rules *Rules
	LLM   *LLM
	// MinConfidence: LLM answers below it are ignored; 0 means
	// DefaultMinConfidence.
	MinConfidence float64
}

// Classify returns the alert's classification. It never fails: the LLM's
// failures fall back to the labels. Call it from an activity when an LLM is
// configured (it does I/O).
func (c *Classifier) Classify(ctx context.Context, a alert.Alert) publish.Classification {
	var rules *Rules
	if c != nil {
		rules = c.Rules
	}
	if m, ok := rules.match(a.Labels); ok {
		return m
	}
	fallback := ByLabels(a.Labels)
	if c == nil || c.LLM == nil {
		return fallback
	}
	got, err := c.LLM.Classify(ctx, a)
	if err != nil {
		fallback.Reason = fallbackReason(err) + "; " + fallback.Source + ": " + fallback.Reason
		return fallback
	}
	min := c.MinConfidence
	if min <= 0 {
		min = DefaultMinConfidence
	}
	if got.Confidence < min {
		fallback.Reason = fmt.Sprintf("llm confidence %.2f below %.2f (said %s); %s: %s",
			got.Confidence, min, got.Severity, fallback.Source, fallback.Reason)
		return fallback
	}
	return got
}

// fallbackReason says in a few words why the LLM's answer was not used.
func fallbackReason(err error) string {
	var le *LLMError
	if !errors.As(err, &le) {
		return "llm error"
	}
	switch le.Kind {
	case LLMTimeout:
		return "llm timeout"
	case LLMHTTPStatus:
		return fmt.Sprintf("llm http %d", le.StatusCode)
	default:
		return truncate(le.Error(), 160)
	}
}

// Options configure New (internal/config fills them from the
// HERALD_CLASSIFIER_RULES and HERALD_LLM_* settings).
type Options struct {
	// RulesFile is a rules file; empty: no rules.
	RulesFile string
	// LLMURL enables the LLM classifier, e.g. https://api.openai.com/v1.
	LLMURL        string
	LLMModel      string // required with LLMURL
	LLMAPIKey     string
	LLMTimeout    time.Duration // 0: DefaultLLMTimeout
	MinConfidence float64       // 0: DefaultMinConfidence
	// Client sends the LLM requests; nil: a client on http.DefaultTransport.
	Client *http.Client
}

// New builds a Classifier: it loads the rules file and checks the LLM
// settings.
func New(o Options) (*Classifier, error) {
	c := &Classifier{MinConfidence: o.MinConfidence}
	if o.RulesFile != "" {
		r, err := LoadRules(o.RulesFile)
		if err != nil {
			return nil, err
		}
		c.Rules = r
	}
	if o.LLMURL != "" {
		if o.LLMModel == "" {
			return nil, errors.New("llm classifier: a model is required with the url")
		}
		l := &LLM{URL: o.LLMURL, Model: o.LLMModel, APIKey: o.LLMAPIKey, Timeout: o.LLMTimeout, Client: o.Client}
		if err := l.validate(); err != nil {
			return nil, fmt.Errorf("llm classifier: %w", err)
		}
		c.LLM = l
	}
	return c, nil
}

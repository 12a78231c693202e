package app

import (
	"fmt"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/classify"
	"github.com/herald-alerts/herald/internal/config"
)

// newClassifier builds the alert classifier: the rules file (if any), the
// severity label, and the optional LLM with fallback to both.
func newClassifier(cfg config.Config) (activities.Classifier, error) {
	c, err := classify.New(classify.Options{
		RulesFile:  cfg.ClassifierRules,
		LLMURL:     cfg.LLMURL,
		LLMModel:   cfg.LLMModel,
		LLMAPIKey:  cfg.LLMAPIKey,
		LLMTimeout: cfg.LLMTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	return c, nil
}

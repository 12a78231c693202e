package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
)

// Prepare is everything an alert workflow asks of the worker before it
// delivers, in one local activity: the worker's delivery settings, and
// either the classification, targets and health of a new firing episode,
// or the health and enabled state of an episode's targets (a resolve, an
// update). Nothing in it fails for good: a classifier that fails falls back
// to the labels, health that cannot be read is unknown, and targets that
// cannot be decided yet (a source not synced) are reported as Waiting.
func (a *Activities) Prepare(ctx context.Context, in contract.PrepareInput) (contract.PrepareResult, error) {
	res := contract.PrepareResult{Settings: a.Settings.WithDefaults(), Strategy: a.strategy()}
	news := in.Episode
	if news == nil {
		news = in.FirstNews
	}
	if in.Episode != nil {
		c, _ := a.ClassifyAlert(ctx, *in.Episode)
		res.Classification = &c
	}
	if news != nil {
		r, err := a.ResolveTargets(ctx, ResolveTargetsInput{Labels: news.Labels})
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == KindTargetsNotSynced {
			res.Waiting = appErr.Message()
			return res, nil
		}
		if err != nil {
			return res, err
		}
		res.Resolved = true
		res.Targets, res.Filtered, res.Mode, res.Reason, res.Health = r.Targets, r.Filtered, r.Mode, r.Reason, r.Health
		return res, nil
	}
	if len(in.Targets) == 0 {
		return res, nil
	}
	h, err := a.TargetHealth(ctx, in.Targets)
	if err != nil {
		a.logger().Warn("target health unavailable; routing as if unknown", "error", err)
		h = map[string]string{}
	}
	res.Health = h
	snap := a.Registry.Snapshot()
	for _, name := range in.Targets {
		if t, ok := snap.Get(name); ok && !t.IsEnabled() {
			if res.Disabled == nil {
				res.Disabled = map[string]string{}
			}
			res.Disabled[name] = ReasonDisabled
		}
	}
	return res, nil
}

// ReasonDisabled is why a disabled target gets no delivery.
const ReasonDisabled = "target disabled"

func (a *Activities) strategy() string {
	if a.Strategy == "" {
		return health.StrategySkipUnhealthy
	}
	return a.Strategy
}

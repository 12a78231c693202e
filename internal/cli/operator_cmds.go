package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/herald-alerts/herald/internal/apiclient"
	"github.com/herald-alerts/herald/internal/ingest"
	"github.com/herald-alerts/herald/internal/target"
)

// maxCell bounds a table cell (error excerpts, alert names).
const maxCell = 80

func (o *operator) alertsList(fs *flag.FlagSet) func(context.Context, []string) error {
	var f apiclient.AlertFilter
	fs.StringVar(&f.Status, "status", "", "firing or resolved")
	fs.StringVar(&f.Severity, "severity", "", "severity label")
	fs.StringVar(&f.Name, "name", "", "alertname")
	fs.StringVar(&f.Target, "target", "", "alerts whose current episode went to this target")
	fs.IntVar(&f.Limit, "limit", 0, "at most this many, 1-1000 (default 100)")
	fs.StringVar(&f.PageToken, "page-token", "", "the next page, as the previous page's last line names it")
	return func(ctx context.Context, _ []string) error {
		list, resp, err := o.client.Alerts(ctx, f)
		if err != nil {
			return err
		}
		o.answer(resp, func(w io.Writer) {
			if len(list.Alerts) == 0 {
				fmt.Fprintln(w, "no alerts found")
				return
			}
			t := newTable(w, "FINGERPRINT", "NAME", "SEVERITY", "STATUS", "TARGETS", "WORKFLOW", "STARTED")
			for _, a := range list.Alerts {
				t.row(a.Fingerprint, a.Name, a.Severity, a.Status, strings.Join(a.Targets, ","), a.WorkflowStatus, o.when(a.StartedAt))
			}
			t.flush()
			if list.NextPageToken != "" {
				fmt.Fprintf(w, "\nmore match; the next page: --page-token %s\n", list.NextPageToken)
			}
		})
		return nil
	}
}

func (o *operator) alertsGet(*flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		v, resp, err := o.client.Alert(ctx, args[0])
		if err != nil {
			return err
		}
		o.answer(resp, func(w io.Writer) {
			kv := newTable(w)
			if st := v.AlertState; st != nil {
				kv.row("fingerprint:", st.Fingerprint)
				kv.row("name:", st.Name)
				kv.row("severity:", st.Severity)
				kv.row("status:", st.Status)
				kv.row("episode:", strconv.Itoa(st.Episode))
				kv.row("first seen:", o.when(st.FirstSeen))
				kv.row("last seen:", o.when(st.LastSeen))
				if st.Completed != "" {
					kv.row("completed:", st.Completed)
				}
			}
			kv.row("workflow:", v.WorkflowID+" ("+v.WorkflowStatus+")")
			kv.flush()
			fmt.Fprintln(w)
			if len(v.Targets) == 0 {
				fmt.Fprintln(w, "no deliveries yet")
			} else {
				t := newTable(w, "TARGET", "TYPE", "STATUS", "EVENT", "ATTEMPTS", "DELIVERED", "LAST ERROR", "DEAD LETTER")
				for _, ts := range v.Targets {
					if ts.TargetState == nil {
						continue
					}
					t.row(ts.Name, ts.Type, ts.Status, ts.Event, strconv.Itoa(int(ts.Attempts)), o.when(ts.DeliveredAt),
						errorCell(ts.LastErrorKind, ts.LastError), ts.DeadLetterID)
				}
				t.flush()
			}
			if len(v.InFlight) > 0 {
				fmt.Fprintln(w)
				t := newTable(w, "IN FLIGHT", "ATTEMPT", "STATE", "NEXT ATTEMPT", "LAST FAILURE")
				for _, r := range v.InFlight {
					t.row(r.ActivityID, strconv.Itoa(int(r.Attempt)), r.State, o.when(r.NextAttemptAt), r.LastFailure)
				}
				t.flush()
			}
		})
		return nil
	}
}

func (o *operator) dlqList(fs *flag.FlagSet) func(context.Context, []string) error {
	var f apiclient.DeadLetterFilter
	var older durationFlag
	fs.StringVar(&f.Target, "target", "", "entries of this target only")
	fs.StringVar(&f.Kind, "kind", "", "entries whose last failure has this error kind (http_5xx, timeout, network, ...)")
	fs.Var(&older, "older-than", "entries whose last failure is older than this (e.g. 24h)")
	fs.IntVar(&f.Limit, "limit", 0, "at most this many, 1-1000 (default 100)")
	fs.IntVar(&f.Offset, "offset", 0, "skip this many matching entries (the next page)")
	return func(ctx context.Context, _ []string) error {
		f.OlderThan = older.d
		list, resp, err := o.client.DeadLetters(ctx, f)
		if err != nil {
			return err
		}
		o.answer(resp, func(w io.Writer) {
			if len(list.Entries) == 0 {
				fmt.Fprintf(w, "no dead letters (%d in all)\n", list.Total)
				return
			}
			t := newTable(w, "ID", "TARGET", "ALERT", "EVENT", "KIND", "ATTEMPTS", "FAILURES", "LAST FAILURE")
			for _, e := range list.Entries {
				if e.DeadLetter == nil {
					continue
				}
				t.row(e.ID, e.Target, e.AlertName, e.Event, e.ErrorKind, strconv.Itoa(int(e.Attempts)), strconv.Itoa(e.Failures), o.when(e.LastFailure))
			}
			t.flush()
			fmt.Fprintln(w)
			fmt.Fprintln(w, pageFooter(list.Offset, len(list.Entries), list.Matched, list.Total))
		})
		return nil
	}
}

// pageFooter says which of the matching entries a page shows, and how to
// ask for the next page when there is one.
func pageFooter(offset, shown, matched, total int) string {
	if offset == 0 && shown >= matched {
		return fmt.Sprintf("%d shown of %d matching (%d in all)", shown, matched, total)
	}
	s := fmt.Sprintf("entries %d-%d of %d matching (%d in all)", offset+1, offset+shown, matched, total)
	if offset+shown < matched {
		s += fmt.Sprintf("; the next page: --offset %d", offset+shown)
	}
	return s
}

func (o *operator) dlqGet(*flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		e, resp, err := o.client.DeadLetter(ctx, args[0])
		if err != nil {
			return err
		}
		o.answer(resp, func(w io.Writer) {
			if e.DeadLetter == nil {
				return
			}
			t := newTable(w)
			t.row("id:", e.ID)
			t.row("alert:", e.AlertName+" ("+e.Fingerprint+")")
			t.row("target:", e.Target+" ("+e.TargetType+")")
			t.row("event:", e.Event)
			t.row("error:", errorCell(e.ErrorKind, e.Error))
			if e.StatusCode != 0 {
				t.row("status code:", strconv.Itoa(e.StatusCode))
			}
			t.row("attempts:", strconv.Itoa(int(e.Attempts)))
			t.row("failures:", strconv.Itoa(e.Failures))
			t.row("replays:", strconv.Itoa(e.Replays))
			t.row("first failure:", o.when(e.FirstFailure))
			t.row("last failure:", o.when(e.LastFailure))
			t.row("alert workflow:", e.AlertWorkflowID)
			if e.Archive != "" {
				t.row("archive:", e.Archive)
			}
			t.flush()
		})
		return nil
	}
}

func (o *operator) dlqReplay(*flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		res, resp, err := o.client.Replay(ctx, args[0])
		if apiclient.StatusOf(err) == http.StatusBadGateway && res.ID != "" {
			// Replayed and failed again: the entry stays.
			o.answer(resp, func(io.Writer) {})
			return fmt.Errorf("%w (the target failed again after %d attempts; the entry stays)", err, res.Attempts)
		}
		if err != nil {
			return err
		}
		o.answer(resp, func(w io.Writer) {
			fmt.Fprintf(w, "delivered %s (%d attempts); the entry is removed\n", clean(res.ID), res.Attempts)
		})
		return nil
	}
}

func (o *operator) dlqReplayAll(fs *flag.FlagSet) func(context.Context, []string) error {
	target := fs.String("target", "", "replay the entries of this target only")
	key := fs.String("key", "", "Idempotency-Key: the same key joins the same replay-all (default: a new key)")
	return func(ctx context.Context, _ []string) error {
		k := *key
		if k == "" {
			k = idempotencyKey()
		}
		res, resp, err := o.client.ReplayAll(ctx, *target, k)
		if err != nil {
			return err
		}
		o.answer(resp, func(w io.Writer) {
			if resp.Status == http.StatusAccepted {
				fmt.Fprintf(w, "replay-all %s is still running: %d of %d replayed so far (delivered %d, failed %d, skipped %d)\n",
					clean(res.Key), res.Replayed, res.Total, res.Delivered, res.Failed, res.Skipped)
				fmt.Fprintf(w, "follow it with: worker dlq replay-all --key %s\n", clean(res.Key))
				return
			}
			if res.Total == 0 && len(res.Results) == 0 {
				fmt.Fprintln(w, "nothing to replay")
				return
			}
			fmt.Fprintf(w, "replay-all %s: %d entries, %d replayed: %d delivered, %d failed, %d skipped\n",
				clean(res.Key), res.Total, res.Replayed, res.Delivered, res.Failed, res.Skipped)
			if len(res.Results) > 0 {
				fmt.Fprintln(w)
				t := newTable(w, "ID", "OUTCOME", "ATTEMPTS", "ERROR")
				for _, r := range res.Results {
					outcome := "failed"
					switch {
					case r.Delivered:
						outcome = "delivered"
					case r.Skipped != "":
						outcome = "skipped: " + r.Skipped
					}
					t.row(r.ID, outcome, strconv.Itoa(int(r.Attempts)), r.Error)
				}
				t.flush()
			}
			if res.Omitted > 0 {
				fmt.Fprintf(w, "(%d more results not listed)\n", res.Omitted)
			}
		})
		return nil
	}
}

func (o *operator) dlqDrop(*flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		res, resp, err := o.client.Drop(ctx, args[0])
		if err != nil {
			return err
		}
		o.answer(resp, func(w io.Writer) { fmt.Fprintf(w, "dropped %d dead letter(s)\n", res.Dropped) })
		return nil
	}
}

func (o *operator) dlqPurge(fs *flag.FlagSet) func(context.Context, []string) error {
	var older durationFlag
	fs.Var(&older, "older-than", "drop entries whose last failure is older than this (required, e.g. 24h)")
	return func(ctx context.Context, _ []string) error {
		if older.d == 0 {
			return usageError{"--older-than is required (a positive duration such as 24h)"}
		}
		res, resp, err := o.client.Purge(ctx, older.d)
		if err != nil {
			return err
		}
		o.answer(resp, func(w io.Writer) {
			fmt.Fprintf(w, "dropped %d dead letter(s) whose last failure is older than %s\n", res.Dropped, older.d)
		})
		return nil
	}
}

func (o *operator) targetsList(*flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, _ []string) error {
		list, resp, err := o.client.Targets(ctx)
		if err != nil {
			return err
		}
		o.answer(resp, func(w io.Writer) {
			if len(list.Targets) == 0 {
				fmt.Fprintln(w, "no targets configured")
			} else {
				t := newTable(w, "NAME", "TYPE", "ENABLED", "HEALTH", "SINCE", "LAST CHECK", "LAST ERROR", "RATE LIMIT", "ORIGIN")
				for _, tv := range list.Targets {
					var h ingest.HealthView
					if tv.Health != nil {
						h = *tv.Health
					}
					t.row(tv.Name, tv.Type, yesNo(tv.Enabled), h.State, o.when(h.Since), o.when(h.LastCheck),
						errorCell(h.LastClass, h.LastError), limitCell(tv.RateLimit), tv.Origin)
				}
				t.flush()
			}
			if len(list.Problems) > 0 {
				fmt.Fprintln(w, "\nskipped definitions:")
				t := newTable(w, "ORIGIN", "TARGET", "REASON", "MESSAGE")
				for _, p := range list.Problems {
					t.row(p.Origin, p.Target, p.Reason, p.Message)
				}
				t.flush()
			}
		})
		return nil
	}
}

// limitCell is a target's rate limit: "2/s burst 2 (type, shared)", or
// "none" when only the receiver's Retry-After slows deliveries.
func limitCell(l *target.RateLimitView) string {
	if l == nil {
		return "none"
	}
	src := l.Source
	if l.Shared {
		src += ", shared"
	}
	return fmt.Sprintf("%s/s burst %d (%s)", strconv.FormatFloat(l.PerSecond, 'g', -1, 64), l.Burst, src)
}

func (o *operator) targetsCheck(*flag.FlagSet) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		res, resp, err := o.client.CheckTarget(ctx, args[0])
		if err != nil {
			return err
		}
		o.answer(resp, func(w io.Writer) {
			t := newTable(w)
			t.row("target:", args[0])
			if ob := res.Observation; !ob.At.IsZero() {
				outcome := "ok"
				if !ob.OK {
					outcome = "failed: " + errorCell(ob.Class, ob.Message)
				}
				if ob.StatusCode != 0 {
					outcome += fmt.Sprintf(" (HTTP %d)", ob.StatusCode)
				}
				t.row("check:", fmt.Sprintf("%s in %s at %s", outcome, time.Duration(ob.Latency), o.when(ob.At)))
			} else {
				t.row("check:", "nothing observed")
			}
			h := res.Health
			t.row("health:", h.State+" since "+o.when(h.Since))
			t.row("failures in a row:", strconv.Itoa(h.ConsecutiveFailures))
			t.flush()
		})
		return nil
	}
}

// when is an RFC 3339 time with how long ago it was ("-" when unset).
func (o *operator) when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339) + " (" + ago(o.now().Sub(t)) + ")"
}

// ago is a rough, human-readable age: "45s ago", "3m ago", "5h ago",
// "2d ago"; a time ahead is "in 3m".
func ago(d time.Duration) string {
	suffix := " ago"
	prefix := ""
	if d < 0 {
		d, prefix, suffix = -d, "in ", ""
	}
	var s string
	switch {
	case d < time.Minute:
		s = strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		s = strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		s = strconv.Itoa(int(d/time.Hour)) + "h"
	default:
		s = strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return prefix + s + suffix
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// errorCell is an error's class and excerpt in one cell.
func errorCell(kind, msg string) string {
	switch {
	case kind == "" && msg == "":
		return "-"
	case kind == "":
		return msg
	case msg == "":
		return kind
	}
	return kind + ": " + msg
}

// table is an aligned table (text/tabwriter) whose cells are cleaned of
// control characters (alert labels come from elsewhere: no terminal
// escapes, no tabs that break the columns) and cut to maxCell.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		c = clean(c)
		if c == "" {
			c = "-"
		}
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		fmt.Fprint(t.tw, c)
	}
	fmt.Fprint(t.tw, "\n")
}

func (t *table) flush() { _ = t.tw.Flush() }

// clean replaces control characters with spaces and cuts s to maxCell
// runes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > maxCell {
		return string(r[:maxCell-1]) + "…"
	}
	return s
}

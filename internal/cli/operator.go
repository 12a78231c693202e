package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/apiclient"
)

// The operator commands (alerts, dlq, targets) call a running Herald's
// HTTP API (docs/cli.md). Exit codes, distinct so that scripts can tell
// what happened:
const (
	ExitOK        = 0 // done
	ExitAPIError  = 1 // any other failure: HTTP 4xx/5xx not below, a failed replay (502), Herald unreachable
	ExitUsage     = 2 // wrong command line
	ExitNotFound  = 3 // HTTP 404: no such alert, dead letter or target
	ExitRefused   = 4 // HTTP 401 or 403: admin token missing or wrong, Host or origin refused
	ExitContested = 5 // HTTP 409 or 503: already being replayed, Herald busy or Temporal unavailable; retry
)

// DefaultAPIURL is the API address of a local Herald (HERALD_HTTP_ADDR's
// default).
const DefaultAPIURL = "http://127.0.0.1:8080"

const operatorUsage = `Operator commands call a running Herald's HTTP API.

  alerts list [--status S] [--severity S] [--name N] [--target T] [--limit N] [--page-token P]
  alerts get FINGERPRINT
  dlq list [--target T] [--kind K] [--older-than D] [--limit N] [--offset N]
  dlq get ID
  dlq replay ID
  dlq replay-all [--target T] [--key K]
  dlq drop ID
  dlq purge --older-than D
  targets list
  targets check NAME

Every command takes --api-url URL (env HERALD_API_URL, default ` + DefaultAPIURL + `)
and --json (the API's JSON answer instead of a table). The admin token is read
from HERALD_ADMIN_TOKEN only. Exit codes: 0 ok, 1 API or HTTP error, 2 usage,
3 not found (404), 4 refused (401/403), 5 conflict or unavailable (409/503).
`

// operator runs one operator command.
type operator struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
	// hc, when set, replaces the API client's HTTP client (tests).
	hc *http.Client

	name   string // "worker dlq replay", for messages
	json   bool
	client *apiclient.Client
}

// Operator runs an operator command (alerts, dlq, targets) with its
// arguments and returns the exit code.
func Operator(ctx context.Context, group string, args []string, stdout, stderr io.Writer) int {
	o := &operator{stdout: stdout, stderr: stderr, getenv: os.Getenv, now: time.Now}
	return o.run(ctx, group, args)
}

type command struct {
	usage string
	// flags adds the command's flags; run runs it with the positional
	// arguments (as many as usage names).
	flags func(fs *flag.FlagSet) func(ctx context.Context, args []string) error
	args  int
}

func (o *operator) commands() map[string]map[string]command {
	return map[string]map[string]command{
		"alerts": {
			"list": {usage: "alerts list [--status S] [--severity S] [--name N] [--target T] [--limit N] [--page-token P]", flags: o.alertsList},
			"get":  {usage: "alerts get FINGERPRINT", flags: o.alertsGet, args: 1},
		},
		"dlq": {
			"list":       {usage: "dlq list [--target T] [--kind K] [--older-than D] [--limit N] [--offset N]", flags: o.dlqList},
			"get":        {usage: "dlq get ID", flags: o.dlqGet, args: 1},
			"replay":     {usage: "dlq replay ID", flags: o.dlqReplay, args: 1},
			"replay-all": {usage: "dlq replay-all [--target T] [--key K]", flags: o.dlqReplayAll},
			"drop":       {usage: "dlq drop ID", flags: o.dlqDrop, args: 1},
			"purge":      {usage: "dlq purge --older-than D", flags: o.dlqPurge},
		},
		"targets": {
			"list":  {usage: "targets list", flags: o.targetsList},
			"check": {usage: "targets check NAME", flags: o.targetsCheck, args: 1},
		},
	}
}

func (o *operator) run(ctx context.Context, group string, args []string) int {
	cmds := o.commands()[group]
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(o.stderr, operatorUsage)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(o.stderr, "worker %s: unknown command %q\n\n%s", group, args[0], operatorUsage)
		return ExitUsage
	}
	o.name = "worker " + group + " " + args[0]
	fs := flag.NewFlagSet(o.name, flag.ContinueOnError)
	fs.SetOutput(o.stderr)
	apiURL := fs.String("api-url", o.env("HERALD_API_URL", DefaultAPIURL), "Herald's HTTP API (env HERALD_API_URL)")
	fs.BoolVar(&o.json, "json", false, "print the API's JSON answer")
	fs.Usage = func() {
		fmt.Fprintf(o.stderr, "Usage: worker %s\n\nFlags:\n", cmd.usage)
		fs.PrintDefaults()
	}
	runCmd := cmd.flags(fs)
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitUsage // the flag package printed the error and the usage
	}
	if len(pos) != cmd.args {
		fmt.Fprintf(o.stderr, "%s: want %d argument(s), got %d\nUsage: worker %s\n", o.name, cmd.args, len(pos), cmd.usage)
		return ExitUsage
	}
	opts := []apiclient.Option{apiclient.WithAdminToken(o.getenv("HERALD_ADMIN_TOKEN"))}
	if o.hc != nil {
		opts = append(opts, apiclient.WithHTTPClient(o.hc))
	}
	if o.client, err = apiclient.New(*apiURL, opts...); err != nil {
		fmt.Fprintf(o.stderr, "%s: %v\n", o.name, err)
		return ExitUsage
	}
	if err := runCmd(ctx, pos); err != nil {
		return o.fail(err)
	}
	return ExitOK
}

// usageError is a command line the command refuses after parsing.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// fail prints err and returns its exit code.
func (o *operator) fail(err error) int {
	fmt.Fprintf(o.stderr, "%s: %v\n", o.name, err)
	var ue usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	return ExitCode(err)
}

// ExitCode is the exit code of an operator command that failed with err.
func ExitCode(err error) int {
	switch apiclient.StatusOf(err) {
	case http.StatusNotFound:
		return ExitNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return ExitRefused
	case http.StatusConflict, http.StatusServiceUnavailable:
		return ExitContested
	}
	return ExitAPIError
}

// parseInterspersed parses flags that may come before, between and after
// the positional arguments ("dlq get ID --json").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func (o *operator) env(key, def string) string {
	if v := o.getenv(key); v != "" {
		return v
	}
	return def
}

// answer prints the API's JSON with --json, or else calls table.
func (o *operator) answer(resp *apiclient.Response, table func(w io.Writer)) {
	if o.json && resp != nil {
		body := resp.Body
		if len(body) == 0 || body[len(body)-1] != '\n' {
			body = append(body, '\n')
		}
		_, _ = o.stdout.Write(body)
		return
	}
	table(o.stdout)
}

// durationFlag is a positive Go duration such as 1h or 30m.
type durationFlag struct{ d time.Duration }

func (f *durationFlag) String() string {
	if f.d == 0 {
		return ""
	}
	return f.d.String()
}

func (f *durationFlag) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return errors.New("want a positive duration such as 24h or 30m")
	}
	f.d = d
	return nil
}

// idempotencyKey is a new key for a replay-all.
func idempotencyKey() string { return "cli-" + strings.ToLower(rand.Text()[:16]) }

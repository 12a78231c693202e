package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/herald-alerts/herald/internal/cli"
)

// `worker run --help` (and every other way to ask the worker for help)
// prints the commands, then the heading "Flags of run and dev", then the
// flags: the heading is never the last line.
func TestWorkerHelpListsFlagsAfterTheHeading(t *testing.T) {
	const heading = "Flags of run and dev (each also read from its environment variable):\n"
	tests := []struct {
		name     string
		args     []string
		code     int
		toStdout bool
	}{
		{"run --help", []string{"run", "--help"}, 0, false},
		{"dev -h", []string{"dev", "-h"}, 0, false},
		{"--help", []string{"--help"}, 0, false},
		{"help", []string{"help"}, 0, true},
		{"unknown command", []string{"frobnicate"}, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := cli.Worker(context.Background(), tc.args, &out, &errOut, noDev(t))
			assert.Equal(t, tc.code, code)
			text := errOut.String()
			if tc.toStdout {
				text = out.String()
			}
			assert.Equal(t, 1, strings.Count(text, "Usage: worker"), "help:\n%s", text)
			assert.NotContains(t, text, "Usage of worker", "the flag package's heading replaces the worker's usage")
			_, flags, ok := strings.Cut(text, heading)
			if !assert.True(t, ok, "no heading in:\n%s", text) {
				return
			}
			assert.True(t, strings.HasPrefix(flags, "  -"), "the heading is not followed by flags:\n%s", text)
			commands, _, _ := strings.Cut(text, heading)
			for _, cmd := range []string{"run", "dev", "export", "replay", "alerts", "dlq", "targets"} {
				assert.Contains(t, commands, "\n  "+cmd+" ", "the command list names %s", cmd)
			}
			assert.Contains(t, flags, "-http-addr")
			assert.Contains(t, flags, "-temporal-address")
		})
	}
}

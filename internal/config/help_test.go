package config_test

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/herald-alerts/herald/internal/config"
)

// The usage text of LoadWithUsage comes first and the flags follow it:
// a heading such as "Flags of run and dev:" is never the last line.
func TestLoadWithUsage_HeaderThenFlags(t *testing.T) {
	const usage = "Usage: worker [command] [flags]\n\nFlags of run and dev:\n"
	for _, helpFlag := range []string{"--help", "-h"} {
		t.Run(helpFlag, func(t *testing.T) {
			var out bytes.Buffer
			_, err := config.LoadWithUsage("worker run", usage, []string{helpFlag}, env{}.get, &out)
			require.ErrorIs(t, err, flag.ErrHelp)
			text := out.String()
			require.True(t, strings.HasPrefix(text, usage), "help does not start with the usage:\n%s", text)
			assert.NotContains(t, text, "Usage of worker run", "the default heading replaces the given usage")
			flags := strings.TrimPrefix(text, usage)
			assert.True(t, strings.HasPrefix(flags, "  -"), "the flags do not follow the usage:\n%s", flags)
			for _, f := range []string{"-http-addr", "-task-queue", "-pprof-addr", "-log-format"} {
				assert.Contains(t, flags, f)
			}
			lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
			assert.NotEqual(t, "Flags of run and dev:", lines[len(lines)-1], "help ends with an empty heading")
		})
	}
}

func TestLoad_DefaultUsageHeading(t *testing.T) {
	var out bytes.Buffer
	_, err := config.Load("starter", []string{"-h"}, env{}.get, &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.True(t, strings.HasPrefix(out.String(), "Usage of starter:\n  -"), "help:\n%s", out.String())
}

package cli_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/herald-alerts/herald/internal/cli"
	"github.com/herald-alerts/herald/internal/config"
)

const fanoutHistory = "../../workflows/testdata/alert_v1_fanout_resolve.json"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// noDev fails the test if the dev mode is started.
func noDev(t *testing.T) cli.DevFunc {
	return func(context.Context, config.Config, *slog.Logger, io.Writer) error {
		t.Error("dev mode started")
		return nil
	}
}

func TestWorker(t *testing.T) {
	garbage := writeFile(t, "garbage.json", `{"events": [ this is not json`)
	empty := writeFile(t, "empty.json", `{"events": []}`)
	keys := writeFile(t, "keys", "k1:"+strings.Repeat("A", 43)+"=\n")
	badKeys := writeFile(t, "bad-keys", "# keys\nk1:AAAA\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		// substrings of stdout and stderr
		wantOut []string
		wantErr []string
		// must not appear in stdout
		notOut []string
	}{
		{"replay one history", []string{"replay", "-history", fanoutHistory}, 0,
			[]string{"ok " + fanoutHistory}, nil, nil},
		{"replay several histories, flag and positional", []string{"replay", "-history", fanoutHistory,
			"../../workflows/testdata/alert_v1_refire.json", "../../workflows/testdata/deadletter_v1.json"}, 0,
			[]string{"ok " + fanoutHistory, "ok ../../workflows/testdata/alert_v1_refire.json", "ok ../../workflows/testdata/deadletter_v1.json"}, nil, nil},
		{"replay garbage JSON", []string{"replay", "-history", garbage}, 1,
			nil, []string{"worker replay:", "garbage.json"}, []string{"ok "}},
		{"replay stops at the first failure", []string{"replay", "-history", garbage, fanoutHistory}, 1,
			nil, []string{"garbage.json"}, []string{"ok "}},
		{"replay empty history", []string{"replay", empty}, 1,
			nil, []string{"worker replay:"}, []string{"ok "}},
		{"replay missing file", []string{"replay", "-history", filepath.Join(t.TempDir(), "missing.json")}, 1,
			nil, []string{"missing.json"}, []string{"ok "}},
		{"replay without files", []string{"replay"}, 2, nil, []string{"at least one -history FILE"}, nil},
		{"replay an unencrypted history with a key file", []string{"replay", "-encryption-key-file", keys, fanoutHistory}, 0,
			[]string{"ok " + fanoutHistory}, nil, nil},
		{"replay with an invalid key file", []string{"replay", "-encryption-key-file", badKeys, fanoutHistory}, 2,
			nil, []string{"line 2: key \"k1\" decodes to 3 bytes"}, []string{"ok "}},
		{"replay failure hints at the key file", []string{"replay", garbage}, 1,
			nil, []string{"give -encryption-key-file"}, nil},
		{"replay bad flag", []string{"replay", "-bogus"}, 2, nil, []string{"bogus"}, nil},
		{"unknown command", []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`, "Usage: worker"}, []string{"Usage"}},
		{"help", []string{"help"}, 0, []string{"Usage: worker", "replay", "export"}, nil, nil},
		{"--help", []string{"--help"}, 0, nil, []string{"Usage: worker", "-task-queue"}, nil},
		{"-h", []string{"-h"}, 0, nil, []string{"Usage: worker"}, nil},
		{"run --help", []string{"run", "--help"}, 0, nil, []string{"Usage: worker", "-http-addr"}, nil},
		{"run with an invalid flag value", []string{"run", "--log-format=xml"}, 2, nil, []string{"worker:", "--log-format"}, nil},
		{"default command with an invalid flag value", []string{"--routing-strategy=nope"}, 2, nil, []string{"--routing-strategy"}, nil},
		{"dev with an invalid flag value", []string{"dev", "--health-interval=x"}, 2, nil, []string{"--health-interval"}, nil},
		{"export without -workflow-id", []string{"export", "-out", filepath.Join(t.TempDir(), "h.json")}, 2,
			nil, []string{"-workflow-id and -out are required"}, nil},
		{"export without -out", []string{"export", "-workflow-id", "alert-abc"}, 2,
			nil, []string{"-workflow-id and -out are required"}, nil},
		{"export bad flag", []string{"export", "-nope"}, 2, nil, []string{"nope"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := cli.Worker(context.Background(), tc.args, &out, &errOut, noDev(t))
			assert.Equal(t, tc.wantCode, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
			for _, w := range tc.wantOut {
				assert.Contains(t, out.String(), w)
			}
			for _, w := range tc.wantErr {
				assert.Contains(t, errOut.String(), w)
			}
			for _, w := range tc.notOut {
				assert.NotContains(t, out.String(), w)
			}
		})
	}
}

func TestWorkerReplayEveryRecordedHistory(t *testing.T) {
	files, err := filepath.Glob("../../workflows/testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var out, errOut bytes.Buffer
	code := cli.Worker(context.Background(), append([]string{"replay"}, files...), &out, &errOut, nil)
	require.Equal(t, 0, code, errOut.String())
	assert.Equal(t, len(files), strings.Count(out.String(), "ok "))
}

func TestStarter(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{"--help", []string{"--help"}, 0, []string{"Usage of starter", "-temporal-address"}},
		{"invalid log format", []string{"--log-format=xml"}, 2, []string{"starter:", "--log-format", `"xml"`}},
		{"invalid duration", []string{"--health-interval=often"}, 2, []string{"starter:", "--health-interval", "HERALD_HEALTH_INTERVAL"}},
		{"positional argument", []string{"extra"}, 2, []string{"unexpected arguments"}},
		{"unknown flag", []string{"--nope"}, 2, []string{"nope"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := cli.Starter(context.Background(), tc.args, &out, &errOut)
			assert.Equal(t, tc.wantCode, code, "stderr:\n%s", errOut.String())
			for _, w := range tc.wantErr {
				assert.Contains(t, errOut.String(), w)
			}
			assert.Empty(t, out.String())
		})
	}
}

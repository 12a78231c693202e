package discovery_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const repoRoot = "../.."

var (
	// `deploy/...`, `docs/...` or a bare `name.yaml` in backticks.
	docPath = regexp.MustCompile("`((?:deploy|docs)/[A-Za-z0-9_./-]*|[A-Za-z0-9_-]+\\.(?:yaml|yml|json))`")
	// --data @docs/..., -f deploy/..., -k deploy/... in commands.
	cmdPath = regexp.MustCompile(`(?:@|-[fk] )((?:deploy|docs)/[A-Za-z0-9_./-]+)`)
	// Relative Markdown links.
	mdLink = regexp.MustCompile(`\]\(([^)#:]+)(?:#[^)]*)?\)`)
	// "Deployment `herald-worker`", "Service `herald-starter`", "ServiceMonitor `herald`".
	kindName = regexp.MustCompile("\\b(Namespace|ServiceAccount|Role|RoleBinding|ClusterRole|ClusterRoleBinding|Deployment|Service|PodDisruptionBudget|NetworkPolicy|ServiceMonitor|PrometheusRule) `([a-z0-9-]+)`")
	// kubectl's deploy/NAME, svc/NAME, statefulset/NAME of Herald's objects.
	kubectlRef = regexp.MustCompile(`\b(deploy|svc)/(herald-[a-z0-9-]+)\b`)
	imageTag   = regexp.MustCompile(`ghcr\.io/herald-alerts/herald:([0-9][0-9A-Za-z.-]*)`)
)

// TestDeploymentDocMatchesManifests: every file docs/deployment.md names
// exists, and every Kubernetes object it names is in deploy/.
func TestDeploymentDocMatchesManifests(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs/deployment.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)

	objects := map[string]bool{}
	for _, dir := range []string{deployDir, monitoringDir} {
		for _, m := range loadManifests(t, dir) {
			objects[m.kind+"/"+m.name] = true
		}
	}

	paths := map[string]bool{}
	for _, re := range []*regexp.Regexp{docPath, cmdPath} {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			paths[m[1]] = true
		}
	}
	checked := 0
	for p := range paths {
		checked++
		if strings.Contains(p, "/") {
			if _, err := os.Stat(filepath.Join(repoRoot, p)); err != nil {
				t.Errorf("docs/deployment.md names %s, which does not exist", p)
			}
			continue
		}
		// A bare file name: one of the directories the page is about.
		found := false
		for _, dir := range []string{"deploy", "deploy/monitoring", "deploy/examples", "deploy/prometheus", "docs/examples"} {
			if _, err := os.Stat(filepath.Join(repoRoot, dir, p)); err == nil {
				found = true
			}
		}
		if !found {
			t.Errorf("docs/deployment.md names %s, which is in none of deploy/ and docs/examples/", p)
		}
	}
	for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
		checked++
		if _, err := os.Stat(filepath.Join(repoRoot, "docs", m[1])); err != nil {
			t.Errorf("docs/deployment.md links to %s, which does not exist", m[1])
		}
	}
	for _, m := range kindName.FindAllStringSubmatch(text, -1) {
		checked++
		if !objects[m[1]+"/"+m[2]] {
			t.Errorf("docs/deployment.md names %s %s, which is not in deploy/", m[1], m[2])
		}
	}
	for _, m := range kubectlRef.FindAllStringSubmatch(text, -1) {
		checked++
		kind := map[string]string{"deploy": "Deployment", "svc": "Service"}[m[1]]
		if !objects[kind+"/"+m[2]] {
			t.Errorf("docs/deployment.md uses %s/%s, but deploy/ has no %s %s", m[1], m[2], kind, m[2])
		}
	}
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	version := string(makefileVersion.FindSubmatch(mk)[1])
	for _, m := range imageTag.FindAllStringSubmatch(text, -1) {
		checked++
		if m[1] != version {
			t.Errorf("docs/deployment.md uses image tag %s, the Makefile VERSION is %s", m[1], version)
		}
	}
	if checked < 40 {
		t.Errorf("only %d references checked: the patterns no longer match the page", checked)
	}
	t.Logf("%d references checked", checked)
}

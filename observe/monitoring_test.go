package observe

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

// The files of monitoring/, relative to this package.
const (
	alertsFile     = "monitoring/alerts.yml"
	alertTestsFile = "monitoring/alerts_test.yml"
	dashboardFile  = "monitoring/dashboard.json"
	readmeFile     = "monitoring/README.md"
)

// ruleFile is the part of a Prometheus rule file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert, Record, Expr string
			Labels, Annotations map[string]string
		}
	}
}

// ruleTests is the part of a promtool test file the tests read.
type ruleTests struct {
	Tests []struct {
		Name          string
		AlertRuleTest []struct {
			Alertname string
		} `yaml:"alert_rule_test"`
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// exportedNames is every series name the Collector can export: the
// names its Describe yields, and a histogram's _bucket, _sum and _count.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	histograms := map[*prometheus.Desc]bool{dAppendLat: true}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	ch := make(chan *prometheus.Desc)
	go func() {
		defer close(ch)
		(&Collector{}).Describe(ch)
	}()
	names := map[string]bool{}
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		names[m[1]] = true
		if histograms[d] {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[m[1]+s] = true
			}
		}
	}
	return names
}

var (
	// What metricNames removes before it looks for identifiers: string
	// literals, label matchers, ranges and subqueries, grouping label
	// lists.
	promStrings  = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// Grafana's label_values(metric, label): the label is no metric.
	labelValues = regexp.MustCompile(`label_values\(\s*([^,()]*?)\s*,\s*\w+\s*\)`)
	promIdent   = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	// PromQL's keywords and aggregation operators (not followed by "("
	// when a grouping follows them: "sum by (x) (...)").
	promKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true, "inf": true, "nan": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true, "count": true,
		"count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
	}
)

// metricNames returns the metric names a PromQL expression (or a
// Grafana label_values query) selects: its identifiers that are neither
// functions, keywords, label names nor Grafana variables.
func metricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, `""`)
	e = labelValues.ReplaceAllString(e, "$1")
	e = promMatchers.ReplaceAllString(e, "")
	e = promRanges.ReplaceAllString(e, "")
	e = promGrouping.ReplaceAllString(e, "")
	var names []string
	for _, loc := range promIdent.FindAllStringIndex(e, -1) {
		id := e[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(e[loc[0]-1:loc[0]], "$0123456789.") {
			continue // a Grafana variable, or the tail of a number (1e9)
		}
		if strings.HasPrefix(strings.TrimLeft(e[loc[1]:], " \t\n"), "(") || promKeywords[strings.ToLower(id)] {
			continue // a function or an operator
		}
		if !slices.Contains(names, id) {
			names = append(names, id)
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for _, c := range []struct {
		name, expr string
		want       []string
	}{
		{"comparison", `continuity_archive_lag_seconds > 1`, []string{"continuity_archive_lag_seconds"}},
		{"function and set operator", `(time() - continuity_verify_last_timestamp_seconds > 90000) and continuity_primary == 1`,
			[]string{"continuity_verify_last_timestamp_seconds", "continuity_primary"}},
		{"aggregation with grouping first", `max by (job) (continuity_primary) == 0`, []string{"continuity_primary"}},
		{"matchers, range, offset, vector matching", `sum(rate(a_total{job="$job",instance=~"$instance"}[$__rate_interval] offset 5m)) without (instance) / on (job) group_left (x) b`,
			[]string{"a_total", "b"}},
		{"quoted parenthesis, subquery", `histogram_quantile(0.99, sum by (le, instance) (rate(h_bucket{x="by (y) z"}[5m:1m])))`, []string{"h_bucket"}},
		{"numbers", `absent(up) or vector(1e9) * 0x1f`, []string{"up"}},
		{"grafana label_values", `label_values(continuity_primary{job="$job"}, instance)`, []string{"continuity_primary"}},
		{"string parameter, bool, inf", "count_values(\"v\", m) > bool inf", []string{"m"}},
		{"recording rule name", `level:metric:rate5m`, []string{"level:metric:rate5m"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := metricNames(c.expr); !slices.Equal(got, c.want) {
				t.Errorf("metricNames(%s) = %q, want %q", c.expr, got, c.want)
			}
		})
	}
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	Panels        []dashboardPanel
	Templating    struct {
		List []struct {
			Name, Type string
			Query      any
			Datasource *datasourceRef
		}
	}
}

type dashboardPanel struct {
	Type, Title string
	Datasource  *datasourceRef
	Targets     []struct {
		Expr       string
		Datasource *datasourceRef
	}
	Panels []dashboardPanel // a collapsed row's
}

type datasourceRef struct{ Type, UID string }

// dashboardExprs returns the dashboard's queries, each named by where it
// is, after checking that every query reads the templated data source.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d, want at least 39", d.SchemaVersion)
	}
	templated := func(where string, ds *datasourceRef) {
		if ds == nil || ds.UID != "${datasource}" {
			t.Errorf("%s: data source %+v, want the variable ${datasource}", where, ds)
		}
	}
	exprs := map[string]string{}
	hasDatasource := false
	for _, v := range d.Templating.List {
		switch {
		case v.Type == "datasource":
			hasDatasource = v.Name == "datasource"
		case v.Type == "query":
			templated("variable "+v.Name, v.Datasource)
			switch q := v.Query.(type) {
			case string:
				exprs["variable "+v.Name] = q
			case map[string]any:
				exprs["variable "+v.Name], _ = q["query"].(string)
			}
		}
	}
	if !hasDatasource {
		t.Errorf("no datasource variable named datasource")
	}
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			templated(fmt.Sprintf("panel %q", p.Title), p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for i, tg := range p.Targets {
				where := fmt.Sprintf("panel %q query %d", p.Title, i)
				templated(where, tg.Datasource)
				exprs[where] = tg.Expr
			}
		}
	}
	walk(d.Panels)
	return exprs
}

// TestMonitoringUsesExportedMetrics: every metric the alerting rules and
// the dashboard's queries select is one the Collector exports, and the
// dashboard reads the templated data source.
func TestMonitoringUsesExportedMetrics(t *testing.T) {
	exported := exportedNames(t)
	exprs := dashboardExprs(t)
	var rules ruleFile
	readYAML(t, alertsFile, &rules)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs["rule "+r.Alert+r.Record] = r.Expr
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("only %d expressions found", len(exprs))
	}
	for where, e := range exprs {
		names := metricNames(e)
		if len(names) == 0 && !strings.HasPrefix(where, "variable") {
			t.Errorf("%s selects no metric: %s", where, e)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("%s uses %s, which the Collector does not export: %s", where, n, e)
			}
		}
	}
}

// TestAlertTestsCoverEveryAlert: the "healthy" group of alerts_test.yml
// checks that no alert of alerts.yml fires on a healthy cluster, so it
// must name each of them.
func TestAlertTestsCoverEveryAlert(t *testing.T) {
	var rules ruleFile
	readYAML(t, alertsFile, &rules)
	var tests ruleTests
	readYAML(t, alertTestsFile, &tests)
	quiet := map[string]bool{}
	for _, tc := range tests.Tests {
		if tc.Name == "healthy" {
			for _, a := range tc.AlertRuleTest {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && !quiet[r.Alert] {
				t.Errorf("the healthy case of %s does not check that %s stays quiet", alertTestsFile, r.Alert)
			}
		}
	}
}

// TestAlertsHaveRunbooks: every alert has a severity, a summary and a
// runbook_url pointing at its section of the README, which exists.
func TestAlertsHaveRunbooks(t *testing.T) {
	var rules ruleFile
	readYAML(t, alertsFile, &rules)
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: no summary or description", r.Alert)
			}
			if want := "observe/" + readmeFile + "#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if !strings.Contains(string(readme), "\n### "+r.Alert+"\n") {
				t.Errorf("%s has no section in %s", r.Alert, readmeFile)
			}
		}
	}
}

// TestPromtool checks the rules and runs their unit tests with promtool,
// and checks that the dashboard's queries parse.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH: install it to check the alerting rules (Debian: apt-get install prometheus; or go install github.com/prometheus/prometheus/cmd/promtool@latest)")
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), promtool, args...)
		cmd.Dir = "monitoring"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("check", "rules", filepath.Base(alertsFile))
	run("test", "rules", filepath.Base(alertTestsFile))

	// The dashboard's queries, with Grafana's variables filled in, as
	// recording rules: promtool parses them.
	vars := regexp.MustCompile(`\$\{?(\w+)\}?`)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for where, e := range dashboardExprs(t) {
		if strings.HasPrefix(where, "variable") {
			continue // label_values is Grafana's, not PromQL
		}
		e = vars.ReplaceAllStringFunc(e, func(v string) string {
			if strings.Contains(v, "interval") {
				return "5m"
			}
			return "x"
		})
		q, _ := json.Marshal(e) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "      - record: dashboard:query\n        expr: %s\n", q)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run("check", "rules", path)
}

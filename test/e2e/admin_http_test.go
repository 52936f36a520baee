package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestAdminHTTP checks the admin listener: health, readiness, Prometheus
// metrics that count the requests served, and pprof.
func TestAdminHTTP(t *testing.T) {
	n := startNode(t, "", nil)
	base := "http://" + n.AdminAddr.String()
	if code, body := httpGet(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := httpGet(t, base+"/readyz"); code != 200 || strings.TrimSpace(body) != "ready" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	cl := franzClient(t, n.addr)
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(context.Background(), cl); err != nil {
		t.Fatal(err)
	}
	code, body := httpGet(t, base+"/metrics")
	for _, want := range []string{`strata_requests_total{api="Metadata"`, `strata_requests_total{api="ApiVersions"`,
		"strata_connections_open", "go_goroutines", "process_resident_memory_bytes"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (status %d) lacks %s", code, want)
		}
	}
	if code, _ := httpGet(t, base+"/debug/pprof/goroutine?debug=1"); code != 200 {
		t.Errorf("pprof: status %d", code)
	}
}
